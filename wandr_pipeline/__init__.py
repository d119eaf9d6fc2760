"""wandr-pipeline: short social videos to queryable text, as Dagster assets."""

import warnings

# We use BackfillPolicy.multi_run on purpose (many videos per run); Dagster marks the parameter beta
# and would repeat that warning for every asset at every import.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
