"""`python -m wandr_pipeline.cli`: the same as the `wandr-pipeline` command."""

import sys

from wandr_pipeline.cli.main import main

sys.exit(main())
