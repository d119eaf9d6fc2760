"""The analysts' layer: every analyst table as one Delta Lake table, kept in step with the per-video partitions.

The per-video files (`warehouse/<table>/video_key=<key>/part-0.parquet`) are right for Dagster (one
atomic object per partition, replaced by a backfill) and wrong for analysts: at 10,000 videos a DuckDB
count over them takes seconds and pandas needs a quarter of a minute, and they only get slower. This
module copies them into `lake/<table>/`, a Delta table per analyst table with the same columns plus
`video_key`, in few large files. docs/WAREHOUSE.md has the measurements behind the choice of Delta
(over Iceberg and a hand-rolled manifest) and how to read it from pandas, DuckDB and BigQuery.

- `sync(keys)` replaces the rows of those videos in every table with what their partitions hold now:
  one Delta commit per table (`write_deltalake(mode="overwrite", predicate="video_key IN (...)")`),
  so a re-processed video's rows are replaced, never duplicated, and a video whose partition is gone
  loses its rows. A commit writes its data files first and publishes them with one log entry, created
  only if that version does not exist yet (on GCS and locally), so a writer killed at any point leaves
  the previous version, and readers always see a whole commit.
- Compaction: once a table holds more than `compact_min_files` files, `sync` merges the small ones
  into files of `compact_target_mb` (`optimize.compact`), and `vacuum` deletes files that only versions
  older than `vacuum_retention_hours` need (readers that planned a scan on an older version still find
  theirs). Small files also bound what re-processing costs: a replaced row rewrites its whole file.
- Tables: every per-video table (`schemas.TABLES` and `SIDE_TABLES`) except the media inventories
  (`MEDIA_TABLES`), so a table a new stage adds is picked up without an edit here.

No Dagster import: the `analyst_lake` asset, its sensor and the CLI call this.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES
from wandr_pipeline.lib.stages import LAST_STAGE
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes
from wandr_pipeline.lib.urls import is_valid_key

LAKE_DIR = "lake"
# Tables that list media files (audio, frames), not content: their partitions stay for Dagster only.
MEDIA_TABLES = frozenset({"audio", "frames"})
# Every per-video table: the stages' own and those a stage writes beside its own (transcript_words).
_SCHEMAS = {**TABLES, **SIDE_TABLES}
KEY_COLUMN = "video_key"
# Videos per Delta commit: the `IN (...)` predicate and the data of one commit stay a few MB.
DEFAULT_COMMIT_VIDEOS = 500
DEFAULT_COMPACT_MIN_FILES = 32
DEFAULT_COMPACT_TARGET_MB = 8
DEFAULT_VACUUM_RETENTION_HOURS = 24.0

log = logging.getLogger(__name__)


def lake_tables() -> tuple[str, ...]:
    """The analyst tables, in the registry's order."""
    return tuple(table for table in _SCHEMAS if table not in MEDIA_TABLES)


def lake_schema(table: str) -> pa.Schema:
    """The per-video table's columns, then `video_key` (never null)."""
    return _SCHEMAS[table].append(pa.field(KEY_COLUMN, pa.string(), nullable=False))


@dataclass
class TableSync:
    """What one `sync` did to one table."""

    table: str
    videos: int  # videos whose rows were replaced
    rows: int  # rows written
    version: int  # the table's Delta version after the commit
    seconds: float
    bytes_written: int
    compacted: bool = False


class Lake:
    """The Delta tables under `<storage root>/lake/`."""

    @classmethod
    def from_settings(cls, storage: Storage, settings) -> Lake:
        return cls(
            storage,
            commit_videos=settings.lake_commit_videos,
            compact_min_files=settings.lake_compact_min_files,
            compact_target_mb=settings.lake_compact_target_mb,
            vacuum_retention_hours=settings.lake_vacuum_retention_h,
        )

    def __init__(
        self,
        storage: Storage,
        *,
        commit_videos: int = DEFAULT_COMMIT_VIDEOS,
        compact_min_files: int = DEFAULT_COMPACT_MIN_FILES,
        compact_target_mb: int = DEFAULT_COMPACT_TARGET_MB,
        vacuum_retention_hours: float = DEFAULT_VACUUM_RETENTION_HOURS,
    ):
        self.storage = storage
        self.commit_videos = max(1, commit_videos)
        self.compact_min_files = compact_min_files
        self.compact_target_mb = compact_target_mb
        self.vacuum_retention_hours = vacuum_retention_hours

    # -- addressing ---------------------------------------------------------------------------
    def table_uri(self, table: str) -> str:
        return self.storage.path(f"{LAKE_DIR}/{table}")

    def storage_options(self) -> dict[str, str] | None:
        """Options for delta-rs (object_store). Locally none; on GCS Application Default Credentials
        (found by object_store itself), or the emulator named by STORAGE_EMULATOR_HOST, anonymously."""
        if self.storage.is_local:
            return None
        emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
        if not emulator:
            return None
        base = emulator if "://" in emulator else f"http://{emulator}"
        key = {
            "gcs_base_url": base.rstrip("/"),
            "disable_oauth": True,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        }
        return {"google_service_account_key": json.dumps(key)}

    def exists(self, table: str) -> bool:
        return self.storage.exists(f"{LAKE_DIR}/{table}/_delta_log")

    def delta_table(self, table: str):
        from deltalake import DeltaTable

        return DeltaTable(self.table_uri(table), storage_options=self.storage_options())

    # -- reading ------------------------------------------------------------------------------
    def file_uris(self, table: str) -> list[str]:
        """The Parquet files of the table's current version (what `delta_scan` would read)."""
        return self.delta_table(table).file_uris()

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The keys without a row in the lake's `video_documents` (every video has one row there)."""
        keys = list(dict.fromkeys(keys))
        if not keys or not self.exists(LAST_STAGE.table):
            return keys
        present = set(self.read_arrow(LAST_STAGE.table, [KEY_COLUMN]).column(KEY_COLUMN).to_pylist())
        return [key for key in keys if key not in present]

    def read_arrow(self, table: str, columns: Sequence[str] | None = None) -> pa.Table:
        return self.delta_table(table).to_pyarrow_table(columns=list(columns) if columns else None)

    def read_pandas(self, table: str, columns: Sequence[str] | None = None):
        return self.delta_table(table).to_pandas(columns=list(columns) if columns else None)

    def duckdb(self, connection=None, tables: Iterable[str] | None = None):
        """A DuckDB connection with one view per lake table over its current files (no extension needed:
        DuckDB's `delta` extension is downloaded on first use, which offline machines cannot do)."""
        import duckdb

        connection = connection or duckdb.connect()
        if not self.storage.is_local:
            connection.register_filesystem(self.storage.fs)
        for table in tables or lake_tables():
            if not self.exists(table):
                continue
            files = self.file_uris(table)
            if not files:
                continue
            listing = ", ".join("'" + uri.replace("'", "''") + "'" for uri in files)
            connection.execute(f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM read_parquet([{listing}])')
        return connection

    # -- writing ------------------------------------------------------------------------------
    def sync(self, keys: Iterable[str], tables: Iterable[str] | None = None) -> list[TableSync]:
        """Make the lake rows of `keys` equal to their per-video partitions now, table by table."""
        keys = list(dict.fromkeys(key for key in keys if is_valid_key(key)))
        results: list[TableSync] = []
        if not keys:
            return results
        for table in tables or lake_tables():
            for start in range(0, len(keys), self.commit_videos):
                results.append(self._sync_chunk(table, keys[start : start + self.commit_videos]))
            if self.compact_min_files > 0:
                results[-1].compacted = self.compact_if_needed(table)
        return results

    def _sync_chunk(self, table: str, keys: list[str]) -> TableSync:
        started = time.perf_counter()
        schema = lake_schema(table)
        found = self.storage.read_existing([self.storage.partition_path(table, key) for key in keys])
        parts = []
        for key in keys:
            data = found.get(self.storage.partition_path(table, key))
            if data is None:  # no partition (yet, or any more): the video has no rows in this table
                continue
            part = read_parquet_bytes(data, _SCHEMAS[table])
            parts.append(part.append_column(schema.field(KEY_COLUMN), pa.array([key] * part.num_rows, pa.string())))
        rows = pa.concat_tables(parts) if parts else schema.empty_table()
        result = self.replace(table, keys, rows)
        result.seconds = time.perf_counter() - started
        return result

    def replace(self, table: str, keys: list[str], rows: pa.Table, *, new_keys: bool = False) -> TableSync:
        """One commit: the rows of `keys` become `rows` (which hold `video_key`; keys without rows lose theirs).

        `new_keys`: the caller knows that no row of `keys` is in the table yet (a first load), so the
        commit appends without looking for rows to remove.
        """
        from deltalake import write_deltalake
        from deltalake.exceptions import TableNotFoundError

        started = time.perf_counter()
        if not all(is_valid_key(key) for key in keys):
            raise ValueError("refusing keys outside [A-Za-z0-9_-]")
        rows = rows.cast(lake_schema(table))
        options = self.storage_options()
        try:
            current = self.delta_table(table)
        except TableNotFoundError:
            write_deltalake(self.table_uri(table), rows, mode="append", storage_options=options, name=table)
            current, before = self.delta_table(table), {}
        else:
            before = _file_sizes(current)
            if new_keys:
                write_deltalake(current, rows, mode="append", schema_mode="merge")
            else:
                # Keys are [A-Za-z0-9_-] (checked above), so quoting them needs no escaping.
                predicate = f"{KEY_COLUMN} IN ({', '.join(repr(key) for key in keys)})"
                write_deltalake(current, rows, mode="overwrite", predicate=predicate, schema_mode="merge")
        added = {path: size for path, size in _file_sizes(current).items() if path not in before}
        return TableSync(
            table=table,
            videos=len(keys),
            rows=rows.num_rows,
            version=current.version(),
            seconds=time.perf_counter() - started,
            bytes_written=sum(added.values()),
        )

    def compact_if_needed(self, table: str) -> bool:
        """Rewrite small files into large ones once there are more than `compact_min_files`; then vacuum."""
        table_now = self.delta_table(table)
        if len(table_now.file_uris()) <= self.compact_min_files:
            return False
        started = time.perf_counter()
        metrics = table_now.optimize.compact(target_size=self.compact_target_mb * 2**20)
        self.vacuum(table)
        log.info(
            "compacted lake table %s: %s files into %s in %.1f s",
            table,
            metrics.get("numFilesRemoved"),
            metrics.get("numFilesAdded"),
            time.perf_counter() - started,
        )
        return True

    def vacuum(self, table: str) -> list[str]:
        """Delete the files no version of the last `vacuum_retention_hours` refers to."""
        return self.delta_table(table).vacuum(
            retention_hours=int(self.vacuum_retention_hours),
            enforce_retention_duration=False,
            dry_run=False,
        )


def _file_sizes(delta_table) -> dict[str, int]:
    """Path -> bytes of the files of a Delta table's current version."""
    actions = pa.table(delta_table.get_add_actions(flatten=True))
    return dict(zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), strict=True))
