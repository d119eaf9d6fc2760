"""The two Dagster internals defs/videos/reporting.py still needs: this fails loudly when an upgrade moves them.

Dagster 1.13 exports neither `AssetCheckEvaluationTargetMaterializationData` (without it a partition's
check result is not counted as current for its materialisation in the UI) nor
`AssetCheckExecutionRecordStatus` (the status filter of the check history). When this test fails,
look for a public equivalent first (`dir(dagster)`).
"""

from __future__ import annotations

import dagster

from wandr_pipeline.defs.videos import reporting


def test_the_private_dagster_names_reporting_uses_still_exist_with_their_shape():
    target = reporting.AssetCheckEvaluationTargetMaterializationData(run_id="r", storage_id=1, timestamp=2.0)
    assert (target.run_id, target.storage_id, target.timestamp) == ("r", 1, 2.0)
    evaluation = dagster.AssetCheckEvaluation(
        asset_key=dagster.AssetKey("a"), check_name="c", passed=True, target_materialization_data=target
    )
    assert evaluation.target_materialization_data == target
    status = reporting.AssetCheckExecutionRecordStatus
    assert {status.SUCCEEDED.value, status.FAILED.value} == {"SUCCEEDED", "FAILED"}


def test_no_public_equivalent_appeared_unnoticed():
    # When Dagster exports one of them, reporting.py should import it from `dagster` instead.
    public = set(dir(dagster))
    assert "AssetCheckEvaluationTargetMaterializationData" not in public
    assert "AssetCheckExecutionRecordStatus" not in public
