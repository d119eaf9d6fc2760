"""The storage root as a resource, and the IO manager that writes one Parquet file per partition."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, OutputContext

from wandr_pipeline.lib.outcomes import SKIPPED
from wandr_pipeline.lib.schemas import TABLES, status_row, to_table
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes, storage_for
from wandr_pipeline.settings import StorageSettings, from_setting, setting_values


class StorageResource(ConfigurableResource):
    """Where media and tables live: a local folder or `gs://bucket/prefix` (`WANDR_STORAGE_URI`)."""

    storage_uri: str = from_setting("storage_uri")

    @classmethod
    def from_settings(cls, storage: StorageSettings) -> StorageResource:
        return cls(**setting_values(cls, storage))

    def get(self) -> Storage:
        return storage_for(self.storage_uri)


class WarehouseIOManager(ConfigurableIOManager):
    """Stores each asset's output as `warehouse/<table>/video_key=<key>/part-0.parquet`.

    Assets return `dict[video_key, pyarrow.Table]` covering every partition of the run; each
    partition is replaced atomically. Inputs load back as `dict[video_key, pyarrow.Table]`; a
    partition that was never written (its run was cancelled or crashed, or the key was added in the
    UI) loads as one `skipped` row saying so, so the downstream stage records that video as skipped
    instead of failing the whole batch. The table name is the asset's `table` metadata.
    """

    storage_uri: str = from_setting("storage_uri")

    @classmethod
    def from_settings(cls, storage: StorageSettings) -> WarehouseIOManager:
        return cls(**setting_values(cls, storage))

    def _table(self, context: OutputContext | InputContext) -> str:
        definition = context.upstream_output if isinstance(context, InputContext) else context
        metadata = definition.definition_metadata or {}
        table = metadata.get("table")
        table = getattr(table, "value", table)
        if table not in TABLES:
            raise ValueError(f"asset {context.asset_key.to_user_string()} has no known 'table' metadata")
        return table

    def handle_output(self, context: OutputContext, obj: dict[str, pa.Table]) -> None:
        if obj is None:
            return
        table = self._table(context)
        storage = storage_for(self.storage_uri)
        expected = set(context.asset_partition_keys)
        missing = expected - set(obj)
        if missing:
            raise ValueError(f"{table}: no output for partitions {sorted(missing)[:5]}")
        for key, data in obj.items():
            storage.write_partition(table, key, _as_arrow(data, TABLES[table]))

    def load_input(self, context: InputContext) -> dict[str, pa.Table]:
        asset = context.upstream_output.asset_key.to_user_string()
        return read_partitions(
            storage_for(self.storage_uri), self._table(context), asset, list(context.asset_partition_keys), context.log
        )


def read_partitions(storage: Storage, table: str, asset: str, keys: list[str], log: Any) -> dict[str, pa.Table]:
    """`table`'s partitions of `keys` (concurrent reads on GCS). A key without one loads as
    `missing_partition`, one `skipped` row saying why, and `log` warns which keys those are."""
    paths = {key: storage.partition_path(table, key) for key in keys}
    found = storage.read_existing(list(paths.values()))
    missing = [key for key, path in paths.items() if path not in found]
    if missing:
        log.warning(
            f"{table}: {len(missing)} partition(s) never materialised, their videos are skipped: "
            f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    return {
        key: read_parquet_bytes(found[path], TABLES[table]) if path in found else missing_partition(table, asset)
        for key, path in paths.items()
    }


def missing_partition(table: str, asset: str) -> pa.Table:
    """The stand-in for an upstream partition that does not exist: one `skipped` row with the reason."""
    reason = (
        f"no {asset} partition for this video: {asset} never ran for it (a cancelled or crashed run, "
        f"or a key added in the UI); materialise {asset} first"
    )
    schema = TABLES[table]
    required = {f.name: "" for f in schema if not f.nullable and f.name != "status" and pa.types.is_string(f.type)}
    return to_table(schema, [status_row(schema, SKIPPED, reason, **required)])


def _as_arrow(data: Any, schema: pa.Schema) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        data = pa.Table.from_pandas(data, schema=schema, preserve_index=False)
    if not isinstance(data, pa.Table):
        raise TypeError(f"expected a pyarrow Table or pandas DataFrame, got {type(data).__name__}")
    return data.cast(schema)
