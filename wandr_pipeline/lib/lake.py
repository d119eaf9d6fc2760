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
- Watermark: a sync given one records it in each table's last commit (a Delta app transaction);
  `watermark()` is the lowest over the tables, so the sensor's "what still needs syncing" survives a
  sync that fails midway (defs/lake/).
- Compaction: once every table has committed, a table with more than `compact_min_files` small files
  (under half the target) has them merged into files of `compact_target_mb`, or of `COMPACT_MAX_ROWS`
  rows where that is less (`optimize.compact`), and `vacuum` deletes files that only versions older
  than `vacuum_retention_hours` need (readers that planned a scan on an older version still find
  theirs). The target bounds what re-processing costs: a replaced row rewrites its whole file.
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
import pyarrow.compute as pc

from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES
from wandr_pipeline.lib.stages import LAST_STAGE
from wandr_pipeline.lib.storage import Storage, read_parquet_bytes
from wandr_pipeline.lib.urls import is_valid_key
from wandr_pipeline.settings import LakeSettings

LAKE_DIR = "lake"
# Tables that list media files (audio, frames), not content: their partitions stay for Dagster only.
MEDIA_TABLES = frozenset({"audio", "frames"})
# Every per-video table: the stages' own and those a stage writes beside its own (transcript_words).
_SCHEMAS = {**TABLES, **SIDE_TABLES}
KEY_COLUMN = "video_key"
# Videos per Delta commit: the `IN (...)` predicate and the data of one commit stay a few MB.
DEFAULT_COMMIT_VIDEOS = 500
DEFAULT_COMPACT_MIN_FILES = 32
DEFAULT_COMPACT_TARGET_MB = 2
# Rows per compacted file at most (the target shrinks for tables of short rows), and the smallest target.
COMPACT_MAX_ROWS = 50_000
COMPACT_MIN_BYTES = 2**17
DEFAULT_VACUUM_RETENTION_HOURS = 24.0
# The Delta app-transaction id under which a sync records its watermark (`Lake.sync`, `Lake.watermark`).
SYNC_APP_ID = "wandr-lake-sync"

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
    seconds: float  # reading the partitions and the commit
    bytes_written: int
    compacted: bool = False
    compact_seconds: float = 0.0  # the check for compaction, and compaction and vacuum when it ran


class Lake:
    """The Delta tables under `<storage root>/lake/`."""

    @classmethod
    def from_settings(cls, storage: Storage, lake: LakeSettings) -> Lake:
        return cls(
            storage,
            commit_videos=lake.lake_commit_videos,
            compact_min_files=lake.lake_compact_min_files,
            compact_target_mb=lake.lake_compact_target_mb,
            vacuum_retention_hours=lake.lake_vacuum_retention_h,
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
    def sync(
        self, keys: Iterable[str], tables: Iterable[str] | None = None, *, watermark: int | None = None
    ) -> list[TableSync]:
        """Make the lake rows of `keys` equal to their per-video partitions now, table by table.

        `watermark`: the caller's position in what needs syncing (the sensor's: the newest
        `video_documents` materialisation these keys cover). Each table's last commit of this sync
        records it (a Delta app transaction, `SYNC_APP_ID`), so `watermark()` moves only once every
        table has committed, and a sync that fails anywhere leaves it where it was.
        """
        keys = list(dict.fromkeys(key for key in keys if is_valid_key(key)))
        results: list[TableSync] = []
        if not keys:
            return results
        last_commit: dict[str, TableSync] = {}
        for table in tables or lake_tables():
            starts = range(0, len(keys), self.commit_videos)
            for start in starts:
                chunk = keys[start : start + self.commit_videos]
                results.append(self._sync_chunk(table, chunk, watermark if start == starts[-1] else None))
            last_commit[table] = results[-1]
        # Compaction only once every table has committed: the rows are visible first, and the update of
        # a batch never waits for a rewrite of files it did not touch.
        if self.compact_min_files > 0:
            for table, result in last_commit.items():
                started = time.perf_counter()
                result.compacted = self.compact_if_needed(table)
                result.compact_seconds = time.perf_counter() - started
        return results

    def watermark(self) -> int | None:
        """The watermark every lake table has committed (the lowest of theirs); None while any table
        lacks one (no lake yet, or a table the registry added since), which means: sync from the start."""
        from deltalake.exceptions import TableNotFoundError

        marks = []
        for table in lake_tables():
            try:
                marks.append(self.delta_table(table).transaction_version(SYNC_APP_ID))
            except TableNotFoundError:
                return None
        return None if None in marks else min(marks)

    def _sync_chunk(self, table: str, keys: list[str], watermark: int | None = None) -> TableSync:
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
        result = self.replace(table, keys, rows, watermark=watermark)
        result.seconds = time.perf_counter() - started
        return result

    def replace(
        self, table: str, keys: list[str], rows: pa.Table, *, new_keys: bool = False, watermark: int | None = None
    ) -> TableSync:
        """One commit: the rows of `keys` become `rows` (which hold `video_key`; keys without rows lose theirs).

        `new_keys`: the caller knows that no row of `keys` is in the table yet (a first load), so the
        commit appends without looking for rows to remove. `watermark`: recorded in the same commit
        (see `sync`).
        """
        from deltalake import CommitProperties, Transaction, write_deltalake
        from deltalake.exceptions import TableNotFoundError

        started = time.perf_counter()
        if not all(is_valid_key(key) for key in keys):
            raise ValueError("refusing keys outside [A-Za-z0-9_-]")
        rows = rows.cast(lake_schema(table))
        options = self.storage_options()
        commit = None if watermark is None else CommitProperties(app_transactions=[Transaction(SYNC_APP_ID, watermark)])
        try:
            current = self.delta_table(table)
        except TableNotFoundError:
            uri = self.table_uri(table)
            write_deltalake(uri, rows, mode="append", storage_options=options, name=table, commit_properties=commit)
            current, before = self.delta_table(table), {}
        else:
            before = _file_sizes(current)
            if new_keys:
                write_deltalake(current, rows, mode="append", schema_mode="merge", commit_properties=commit)
            else:
                # Keys are [A-Za-z0-9_-] (checked above), so quoting them needs no escaping.
                predicate = f"{KEY_COLUMN} IN ({', '.join(repr(key) for key in keys)})"
                write_deltalake(
                    current, rows, mode="overwrite", predicate=predicate, schema_mode="merge", commit_properties=commit
                )
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
        """Rewrite small files into large ones once more than `compact_min_files` are small; then vacuum.

        Small: under half the target. Only those count, so a table that has grown to many full-size
        files is not compacted again after every sync (which then rewrites its part-full files).
        """
        table_now = self.delta_table(table)
        actions = pa.table(table_now.get_add_actions(flatten=True))
        target = self.compact_target_bytes(actions)
        small = [size for size in actions.column("size_bytes").to_pylist() if size < target // 2]
        if len(small) <= self.compact_min_files:
            return False
        started = time.perf_counter()
        metrics = table_now.optimize.compact(target_size=target)
        self.vacuum(table)
        log.info(
            "compacted lake table %s: %s files into %s in %.1f s",
            table,
            metrics.get("numFilesRemoved"),
            metrics.get("numFilesAdded"),
            time.perf_counter() - started,
        )
        return True

    def compact_target_bytes(self, actions: pa.Table) -> int:
        """The file size compaction aims at for a table (its add actions): `compact_target_mb`, or less where
        that many bytes would hold more than `COMPACT_MAX_ROWS` rows (tables of short rows: `videos`, words).

        A re-processed video rewrites the whole file holding its rows, and that costs by rows more than
        by bytes: a 2 MB file of `transcript_words` holds ~40x the rows of one of `ocr_text`.
        """
        target = self.compact_target_mb * 2**20
        size, rows = pc.sum(actions.column("size_bytes")).as_py(), pc.sum(actions.column("num_records")).as_py()
        if size and rows and size * COMPACT_MAX_ROWS // rows < target:
            target = max(COMPACT_MIN_BYTES, size * COMPACT_MAX_ROWS // rows)
        return target

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
