"""The stage registry: every stage in exactly one stage op, the ops in registry order."""

from wandr_pipeline.lib.stages import STAGE_ASSET_NAMES, STAGE_OPS, STAGE_OPS_BY_ASSET


def test_every_stage_is_in_exactly_one_stage_op_in_registry_order():
    assigned = [asset for op in STAGE_OPS for asset in op.assets]
    assert sorted(assigned) == sorted(STAGE_ASSET_NAMES) and len(set(assigned)) == len(assigned)
    for op in STAGE_OPS:
        assert list(op.assets) == [a for a in STAGE_ASSET_NAMES if STAGE_OPS_BY_ASSET[a] is op]
