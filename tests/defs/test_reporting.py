"""The two Dagster internals defs/videos/reporting.py still needs: this fails loudly when an upgrade moves them.

Dagster 1.13 exports neither `AssetCheckEvaluationTargetMaterializationData` (without it a partition's
check result is not counted as current for its materialisation in the UI) nor the output metadata key
under which its step execution records no materialisation per partition of an output (the stage ops
record their own: one per video that has a product, an observation per video that failed). When this
test fails, look for a public equivalent first (`dir(dagster)`); tests/defs/test_failed_partitions.py
shows the behaviour the key gives.
"""

from __future__ import annotations

import inspect

import dagster
from dagster._core.execution.plan import execute_step

from wandr_pipeline.defs.videos import reporting


def test_the_private_dagster_names_reporting_uses_still_exist_with_their_shape():
    target = reporting.AssetCheckEvaluationTargetMaterializationData(run_id="r", storage_id=1, timestamp=2.0)
    assert (target.run_id, target.storage_id, target.timestamp) == ("r", 1, 2.0)
    evaluation = dagster.AssetCheckEvaluation(
        asset_key=dagster.AssetKey("a"), check_name="c", passed=True, target_materialization_data=target
    )
    assert evaluation.target_materialization_data == target


def test_the_output_marker_still_stops_dagster_from_materialising_each_partition():
    [key] = reporting.PARTITION_EVENTS_OUR_OWN
    source = inspect.getsource(execute_step._log_materialization_or_observation_events_for_asset)
    assert "SYSTEM_METADATA_KEY_SOURCE_ASSET_OBSERVATION in output.metadata" in source
    assert execute_step.SYSTEM_METADATA_KEY_SOURCE_ASSET_OBSERVATION == key
    assert dagster.__version__.startswith("1.13."), "read execute_step again before trusting the marker"


def test_no_public_equivalent_appeared_unnoticed():
    # When Dagster exports one of them, reporting.py should import it from `dagster` instead.
    public = set(dir(dagster))
    assert "AssetCheckEvaluationTargetMaterializationData" not in public
    assert "SYSTEM_METADATA_KEY_SOURCE_ASSET_OBSERVATION" not in public
