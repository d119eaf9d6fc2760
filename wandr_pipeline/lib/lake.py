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
- Holdings: each table knows what it holds, video by video: the version of the partition its rows
  came from (local modification time, GCS generation), in `<table>/_wandr/holdings.parquet`, written
  after each commit (so it can lag the table, never run ahead of it). `behind(table)` compares it
  with the warehouse; `heal()` syncs each table's own lag, whatever the other tables hold: a table
  a partial sync left out (or with older rows of a re-processed video) is completed by the next one.
- Damage: `diagnose(table)` finds a log delta-rs cannot replay (truncated or garbled entry, entry
  missing) and data files of the current version that are gone. Every sync checks first and
  rebuilds a damaged table from the warehouse (`rebuild`): built beside under `lake/_rebuild/`, then
  published as the table's next version with a checkpoint, so readers switch from the old version
  to the whole new one and never read the damaged entries again (docs/WAREHOUSE.md, "Healing").
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

import io
import json
import logging
import os
import posixpath
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wandr_pipeline.lib.schemas import SIDE_TABLES, TABLES
from wandr_pipeline.lib.stages import LAST_STAGE
from wandr_pipeline.lib.storage import PARTITION_FILE, Storage, read_parquet_bytes
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
# What a table holds (`Lake.holdings`): a file inside the table's folder, where Delta readers and vacuum
# never look (both skip names that start with `_`), so it goes wherever the table goes.
HOLDINGS_FILE = "_wandr/holdings.parquet"
HOLDINGS_SCHEMA = pa.schema([pa.field(KEY_COLUMN, pa.string(), nullable=False), pa.field("version", pa.string())])
# Where `Lake.rebuild` builds a table beside the live one before publishing it.
REBUILD_DIR = "_rebuild"
# A folder under `lake/_rebuild/` this old is what a killed rebuild left (a rebuild takes minutes).
ABANDONED_REBUILD_S = 6 * 3600
# The operation name a rebuild's commit carries in the table's history.
REBUILD_OPERATION = "WANDR REBUILD"
# Up to this many keys, a table's partitions are looked up one by one; more, and the table is listed.
STAT_KEYS_MAX = 1000
# The command that rebuilds every damaged table and completes every table (cli/main.py).
REBUILD_COMMAND = "wandr-pipeline lake rebuild"
SYNC_COMMAND = "wandr-pipeline lake sync"
_LOG_ENTRY = re.compile(r"^(\d{20})\.(json|checkpoint\.parquet|checkpoint\.\d+\.\d+\.parquet)$")

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
    rebuilt: str | None = None  # set when this entry is a rebuild from the warehouse: why (the damage found)


@dataclass
class TableState:
    """What `Lake.inspect` found for one table."""

    table: str
    damage: str | None  # why the table cannot be read whole; None when it can (or does not exist yet)
    held: int  # videos the table holds rows of
    behind: int  # videos it lacks, holds an older partition of, or holds with no partition any more


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
        self._forget_listings(f"{LAKE_DIR}/{table}")
        return self.storage.exists(f"{LAKE_DIR}/{table}/_delta_log")

    def _list(self, relative: str) -> list[str]:
        """The names in a lake folder now: delta-rs writes past fsspec, so gcsfs's cached listing is stale."""
        self._forget_listings(relative)
        return self.storage.list_names(relative)

    def _forget_listings(self, relative: str) -> None:
        if not self.storage.is_local:
            self.storage.fs.invalidate_cache(self.storage.path(relative))

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

    # -- what each table holds ---------------------------------------------------------------
    def holdings(self, table: str, keys: Iterable[str] | None = None) -> dict[str, str | None]:
        """Video key -> the version of its partition (`warehouse_versions`) the table's rows were copied from,
        for `keys` (all when None; keys the table does not hold are left out).

        Read from the table's holdings file (`HOLDINGS_FILE`), written after each of its commits. A table
        without one (written before it existed, or the file was lost) holds the keys it has rows for, at a
        version unknown (None), which `behind` takes as in step.
        """
        held = self._holdings_table(table)
        if keys is not None:
            held = held.filter(pc.is_in(held.column(KEY_COLUMN), value_set=pa.array(list(keys), pa.string())))
        return dict(zip(held.column(KEY_COLUMN).to_pylist(), held.column("version").to_pylist(), strict=True))

    def _holdings_table(self, table: str) -> pa.Table:
        if not self.exists(table):
            return HOLDINGS_SCHEMA.empty_table()
        try:
            data = self.storage.read_bytes(f"{LAKE_DIR}/{table}/{HOLDINGS_FILE}")
            return read_parquet_bytes(data, HOLDINGS_SCHEMA)
        except (FileNotFoundError, pa.ArrowException, KeyError) as error:
            if not isinstance(error, FileNotFoundError):
                log.warning("lake table %s: holdings file unreadable (%s); using its rows' keys", table, error)
        keys = pc.unique(self.read_arrow(table, [KEY_COLUMN]).column(KEY_COLUMN))
        return pa.table({KEY_COLUMN: keys, "version": pa.nulls(len(keys), pa.string())}, schema=HOLDINGS_SCHEMA)

    def _record_holdings(self, table: str, updates: dict[str, str | None], *, replace: bool = False) -> None:
        """Set the versions of `updates`' keys (None: the table no longer holds the key); `replace`: they are
        all it holds. Arrow operations only: at 100,000 videos an update takes ~0.1 s, not a second."""
        kept_keys = [key for key, version in updates.items() if version is not None]
        new = pa.table({KEY_COLUMN: kept_keys, "version": [updates[key] for key in kept_keys]}, schema=HOLDINGS_SCHEMA)
        if not replace:
            held = self._holdings_table(table)
            kept = pc.invert(pc.is_in(held.column(KEY_COLUMN), value_set=pa.array(list(updates), pa.string())))
            new = pa.concat_tables([held.filter(kept), new])
        sink = io.BytesIO()
        pq.write_table(new, sink, compression="zstd")
        self.storage.write_bytes(f"{LAKE_DIR}/{table}/{HOLDINGS_FILE}", sink.getvalue())

    def warehouse_versions(self, table: str, keys: Iterable[str] | None = None) -> dict[str, str]:
        """Video key -> version of its partition of `table` now (locally the file's modification time in ns,
        on GCS the object's generation), for `keys` (every partition when None); keys without one are left out.

        Up to `STAT_KEYS_MAX` keys are looked up one by one, more by listing the table's partitions.
        """
        keys = None if keys is None else list(dict.fromkeys(keys))
        if keys is not None and len(keys) <= STAT_KEYS_MAX:
            paths = [self.storage.path(self.storage.partition_path(table, key)) for key in keys]
            if self.storage.is_local:
                versions = map(_file_version, paths)
            else:
                with ThreadPoolExecutor(16) as pool:
                    versions = list(pool.map(self._object_version, paths))
            return {key: version for key, version in zip(keys, versions, strict=True) if version is not None}
        listed = self._list_versions(table)
        return listed if keys is None else {key: listed[key] for key in keys if key in listed}

    def _object_version(self, path: str) -> str | None:
        try:
            info = self.storage.fs.info(path)
        except FileNotFoundError:
            return None
        return str(info.get("generation") or info.get("mtime") or info.get("updated"))

    def _list_versions(self, table: str) -> dict[str, str]:
        root, prefix, found = self.storage.path(self.storage.table_dir(table)), f"{KEY_COLUMN}=", {}
        if self.storage.is_local:
            try:
                entries = os.scandir(root)
            except FileNotFoundError:
                return {}
            with entries:
                for entry in entries:
                    key = entry.name[len(prefix) :]
                    if entry.name.startswith(prefix) and is_valid_key(key):
                        version = _file_version(os.path.join(entry.path, PARTITION_FILE))
                        if version is not None:
                            found[key] = version
            return found
        try:
            listing = self.storage.fs.find(root, detail=True)
        except FileNotFoundError:
            return {}
        for path, info in listing.items():
            folder, name = posixpath.split(path.rstrip("/"))
            key = posixpath.basename(folder)[len(prefix) :]
            if name == PARTITION_FILE and posixpath.basename(folder).startswith(prefix) and is_valid_key(key):
                found[key] = str(info.get("generation") or info.get("mtime") or info.get("updated"))
        return found

    def behind(self, table: str, keys: Iterable[str] | None = None) -> list[str]:
        """The videos (of `keys`; all when None) whose rows `table` lacks, holds from an older version of
        their partition, or holds though their partition is gone: what a sync of the table must redo."""
        keys = None if keys is None else list(dict.fromkeys(keys))
        versions = self.warehouse_versions(table, keys)
        held = self.holdings(table, keys)
        changed = [key for key, version in versions.items() if key not in held or held[key] not in (None, version)]
        gone = [key for key in (held if keys is None else keys) if key in held and key not in versions]
        return [*changed, *gone]

    # -- damage ---------------------------------------------------------------------------------
    def diagnose(self, table: str) -> str | None:
        """What is wrong with `table`, in words, or None when it reads whole (or does not exist yet).

        Damage found: a log that delta-rs cannot replay (a truncated or garbled entry: `DeltaError`
        "Json error"; an entry missing in the middle: "Expected contiguous commit files"), and data files
        of the current version that are not there (the log replays, but a read fails with
        `FileNotFoundError`).
        """
        from deltalake.exceptions import TableNotFoundError

        if not self.exists(table):
            return None
        try:
            current = self.delta_table(table)
            files = current.file_uris()
        except TableNotFoundError:  # a `_delta_log` with no entry yet: a first commit that never finished
            return None
        except Exception as error:  # noqa: BLE001 - whatever stops the replay is the damage, reported as such
            reason = _first_line(error).split(", but found gap")[0]
            gaps = self._log_gaps(table)
            if gaps:
                reason += f"; log entr{'y' if len(gaps) == 1 else 'ies'} {', '.join(map(str, gaps[:5]))} missing"
            return f"its log cannot be read ({reason})"
        present = set(self._list(f"{LAKE_DIR}/{table}"))
        missing = [posixpath.basename(uri) for uri in files if posixpath.basename(uri) not in present]
        if missing:
            return f"{len(missing)} data file(s) of version {current.version()} are missing ({missing[0]})"
        return None

    def _log_gaps(self, table: str) -> list[int]:
        """The commit versions missing after the newest checkpoint (from 0 without one), before the newest entry."""
        found: dict[str, set[int]] = {"json": set(), "checkpoint": set()}
        for name in self._list(f"{LAKE_DIR}/{table}/_delta_log"):
            match = _LOG_ENTRY.match(name)
            if match:
                found["json" if match.group(2) == "json" else "checkpoint"].add(int(match.group(1)))
        start = max(found["checkpoint"], default=-1) + 1  # entries up to a checkpoint are not read
        return [version for version in range(start, max(found["json"], default=-1)) if version not in found["json"]]

    def damaged(self, tables: Iterable[str] | None = None) -> dict[str, str]:
        """Table -> its damage, for the tables (all by default) that have one."""
        found = {table: self.diagnose(table) for table in tables or lake_tables()}
        return {table: damage for table, damage in found.items() if damage}

    def inspect(self) -> list[TableState]:
        """Each table: readable or its damage, how many videos it holds, how many it is behind the warehouse."""
        states = []
        for table in lake_tables():
            damage = self.diagnose(table)
            if damage:
                states.append(TableState(table, damage, held=0, behind=len(self.warehouse_versions(table))))
            else:
                states.append(TableState(table, None, held=len(self.holdings(table)), behind=len(self.behind(table))))
        return states

    # -- writing ------------------------------------------------------------------------------
    def sync(
        self, keys: Iterable[str], tables: Iterable[str] | None = None, *, watermark: int | None = None
    ) -> list[TableSync]:
        """Make the lake rows of `keys` equal to their per-video partitions now, table by table.

        `watermark`: the caller's position in what needs syncing (the sensor's: the newest
        `video_documents` materialisation these keys cover). Each table's last commit of this sync
        records it (a Delta app transaction, `SYNC_APP_ID`), so `watermark()` moves only once every
        table has committed, and a sync that fails anywhere leaves it where it was.

        A damaged table (`diagnose`) is rebuilt from the warehouse instead (`rebuild`), which covers `keys`.
        """
        keys = list(dict.fromkeys(key for key in keys if is_valid_key(key)))
        if not keys:
            return []
        tables = list(tables or lake_tables())
        return self._sync_tables({table: keys for table in tables}, self.damaged(tables), watermark)

    def heal(self, keys: Iterable[str] | None = None, tables: Iterable[str] | None = None) -> list[TableSync]:
        """Rebuild every damaged table, and bring every other one up to the warehouse: each syncs the videos
        it is `behind` on (of `keys`; of every partition when None), whatever the other tables hold."""
        keys = None if keys is None else [key for key in dict.fromkeys(keys) if is_valid_key(key)]
        tables = list(tables or lake_tables())
        damage = self.damaged(tables)
        plan = {table: [] if table in damage else self.behind(table, keys) for table in tables}
        return self._sync_tables(plan, damage, None)

    def _sync_tables(
        self, plan: dict[str, list[str]], damage: dict[str, str], watermark: int | None
    ) -> list[TableSync]:
        """`plan`: table -> the keys to sync; a table in `damage` (table -> what is wrong) is rebuilt instead."""
        results: list[TableSync] = []
        last_commit: dict[str, TableSync] = {}
        for table, todo in plan.items():
            if table in damage:
                results.append(self.rebuild(table, damage[table], watermark=watermark))
                continue
            if not todo:
                continue
            results.extend(self._sync_table(table, todo, watermark))
            last_commit[table] = results[-1]
        # Compaction only once every table has committed: the rows are visible first, and the update of
        # a batch never waits for a rewrite of files it did not touch.
        if self.compact_min_files > 0:
            for table, result in last_commit.items():
                started = time.perf_counter()
                result.compacted = self.compact_if_needed(table)
                result.compact_seconds = time.perf_counter() - started
        return results

    def _sync_table(self, table: str, keys: list[str], watermark: int | None) -> list[TableSync]:
        # The versions are taken before the partitions are read: a partition rewritten in between is
        # recorded at its older version, and synced again next time (never the other way round).
        versions = self.warehouse_versions(table, keys)
        results = []
        starts = range(0, len(keys), self.commit_videos)
        for start in starts:
            chunk = keys[start : start + self.commit_videos]
            results.append(self._sync_chunk(table, chunk, watermark if start == starts[-1] else None))
        self._record_holdings(table, {key: versions.get(key) for key in keys})
        return results

    def watermark(self) -> int | None:
        """The watermark every lake table has committed (the lowest of theirs); None while any table
        lacks one (no lake yet, or a table the registry added since), which means: sync from the start."""
        marks = [self._table_watermark(table) for table in lake_tables()]
        return None if None in marks else min(marks)

    def _table_watermark(self, table: str) -> int | None:
        from deltalake.exceptions import TableNotFoundError

        try:
            return self.delta_table(table).transaction_version(SYNC_APP_ID)
        except TableNotFoundError:
            return None

    # -- rebuilding -------------------------------------------------------------------------------
    def rebuild(self, table: str, reason: str = "rebuild requested", *, watermark: int | None = None) -> TableSync:
        """Build `table` anew from its warehouse partitions beside the live one, then publish it as the
        live table's next version; readers see the old version or the new one, never a part-built one.

        The new table is written under `lake/_rebuild/`, its small files compacted and a checkpoint made.
        Publishing (`_publish`) moves its data files into the table's folder (invisible: no log entry names
        them), creates the next log entry (create-if-absent, as every Delta commit) that removes every file
        of the old version and adds the new ones, then writes that version's checkpoint, which readers start
        from: log entries before it, damaged or not, are never read again. `watermark`: recorded in the
        new version (default: the lowest of the other tables', which the rebuilt rows cover).
        """
        from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake

        started = time.perf_counter()
        log.warning("lake table %s: %s; rebuilding it from the warehouse", table, reason)
        if watermark is None:
            marks = [self._readable_watermark(other) for other in lake_tables() if other != table]
            watermark = None if not marks or None in marks else min(marks)
        self._remove_abandoned_rebuilds()
        beside = f"{LAKE_DIR}/{REBUILD_DIR}/{table}-{int(time.time())}-{uuid.uuid4().hex[:12]}"
        options = self.storage_options()
        versions = self.warehouse_versions(table)
        keys = sorted(versions)
        rows_written = 0
        try:
            starts = list(range(0, len(keys), self.commit_videos)) or [0]
            for start in starts:
                rows = self._partition_rows(table, keys[start : start + self.commit_videos])
                rows_written += rows.num_rows
                commit = None
                if start == starts[-1] and watermark is not None:
                    commit = CommitProperties(app_transactions=[Transaction(SYNC_APP_ID, watermark)])
                write_deltalake(
                    self.storage.path(beside),
                    rows,
                    mode="append",
                    storage_options=options,
                    name=table,
                    commit_properties=commit,
                )
            built = DeltaTable(self.storage.path(beside), storage_options=options)
            actions = pa.table(built.get_add_actions(flatten=True))
            if actions.num_rows > 1:
                built.optimize.compact(target_size=self.compact_target_bytes(actions))
            version, bytes_written = self._publish(table, beside, reason)
        finally:
            self.storage.remove_tree(beside)
        self._record_holdings(table, versions, replace=True)
        seconds = time.perf_counter() - started
        log.warning(
            "lake table %s rebuilt from the warehouse: %d video(s), %d row(s), version %d, %.1f s",
            table,
            len(keys),
            rows_written,
            version,
            seconds,
        )
        return TableSync(
            table=table,
            videos=len(keys),
            rows=rows_written,
            version=version,
            seconds=seconds,
            bytes_written=bytes_written,
            rebuilt=reason,
        )

    def _remove_abandoned_rebuilds(self) -> None:
        """Delete what rebuilds killed midway left under `lake/_rebuild/` (named `<table>-<unix time>-<id>`)
        once older than `ABANDONED_REBUILD_S`: no live table refers to their files."""
        for name in self._list(f"{LAKE_DIR}/{REBUILD_DIR}"):
            started = name.rsplit("-", 2)[-2] if name.count("-") >= 2 else ""
            if started.isdigit() and time.time() - int(started) > ABANDONED_REBUILD_S:
                log.warning("removing an abandoned lake rebuild: %s", name)
                self.storage.remove_tree(f"{LAKE_DIR}/{REBUILD_DIR}/{name}")

    def _readable_watermark(self, table: str) -> int | None:
        try:
            return self._table_watermark(table)
        except Exception:  # noqa: BLE001 - a damaged table has no watermark to offer
            return None

    def _publish(self, table: str, beside: str, reason: str) -> tuple[int, int]:
        """Make the table built at `beside` the next version of `table`; returns (that version, bytes added)."""
        from deltalake import DeltaTable

        built = DeltaTable(self.storage.path(beside), storage_options=self.storage_options())
        built.create_checkpoint()
        built_version = built.version()
        # The built table's state as actions: its protocol, metadata, app transactions and live files.
        state: dict[str, dict] = {}
        files: dict[str, dict] = {}
        for version in range(built_version + 1):
            entry = self.storage.read_bytes(f"{beside}/_delta_log/{version:020d}.json").decode("utf-8")
            for line in filter(str.strip, entry.splitlines()):
                action = json.loads(line)
                if "add" in action:
                    files[action["add"]["path"]] = action
                elif "remove" in action:
                    files.pop(action["remove"]["path"], None)
                elif "txn" in action:
                    state[f"txn:{action['txn']['appId']}"] = action
                elif "protocol" in action or "metaData" in action:
                    state[next(iter(action))] = action
        for path in files:
            self._move(f"{beside}/{path}", f"{LAKE_DIR}/{table}/{path}")
        checkpoint = self.storage.read_bytes(f"{beside}/_delta_log/{built_version:020d}.checkpoint.parquet")
        last_checkpoint = json.loads(self.storage.read_bytes(f"{beside}/_delta_log/_last_checkpoint"))
        log_dir = f"{LAKE_DIR}/{table}/_delta_log"
        for _ in range(20):  # another writer may take the next version first: then the one after it
            version = self._next_version(log_dir)
            now = int(time.time() * 1000)
            removes = [
                {"remove": {"path": path, "deletionTimestamp": now, "dataChange": True}}
                for path in self._live_files(table)
            ]
            info = {
                "timestamp": now,
                "operation": REBUILD_OPERATION,
                "operationParameters": {"reason": reason[:500]},
                "clientVersion": "wandr-pipeline",
            }
            actions = [{"commitInfo": info}, *state.values(), *removes, *files.values()]
            entry = "".join(json.dumps(action) + "\n" for action in actions).encode("utf-8")
            try:
                self._create_exclusive(f"{log_dir}/{version:020d}.json", entry)
                break
            except FileExistsError:
                continue
        else:
            raise RuntimeError(f"lake table {table}: could not take a new version for the rebuild")
        # The checkpoint is what skips the damage: readers start from it, not from the replay of older entries.
        self.storage.write_bytes(f"{log_dir}/{version:020d}.checkpoint.parquet", checkpoint)
        self.storage.write_bytes(
            f"{log_dir}/_last_checkpoint", json.dumps({**last_checkpoint, "version": version}).encode()
        )
        return version, sum(action["add"]["size"] for action in files.values())

    def _live_files(self, table: str) -> list[str]:
        """The data files of the table's current version, or none when its log cannot be read."""
        try:
            return pa.table(self.delta_table(table).get_add_actions(flatten=True)).column("path").to_pylist()
        except Exception:  # noqa: BLE001 - an unreadable log: readers start from the new checkpoint anyway
            return []

    def _next_version(self, log_dir: str) -> int:
        versions = [int(match.group(1)) for name in self._list(log_dir) if (match := _LOG_ENTRY.match(name))]
        return max(versions, default=-1) + 1

    def _create_exclusive(self, relative: str, data: bytes) -> None:
        """Write `relative` whole, only if it does not exist yet (FileExistsError if it does)."""
        target = self.storage.path(relative)
        if not self.storage.is_local:
            try:
                self.storage.fs.pipe_file(target, data, mode="create")  # GCS: ifGenerationMatch=0
            except Exception as error:
                if self.storage.fs.exists(target):
                    raise FileExistsError(target) from error
                raise
            return
        folder, name = os.path.split(target)
        os.makedirs(folder, exist_ok=True)
        temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)  # fails if the target exists: an atomic create-if-absent
        finally:
            os.unlink(temporary)

    def _move(self, source: str, target: str) -> None:
        if self.storage.is_local:
            os.makedirs(os.path.dirname(self.storage.path(target)), exist_ok=True)
            os.replace(self.storage.path(source), self.storage.path(target))
        else:  # an object store has no rename: a server-side copy, then the delete
            self.storage.fs.mv(self.storage.path(source), self.storage.path(target))

    def _sync_chunk(self, table: str, keys: list[str], watermark: int | None = None) -> TableSync:
        started = time.perf_counter()
        result = self.replace(table, keys, self._partition_rows(table, keys), watermark=watermark)
        result.seconds = time.perf_counter() - started
        return result

    def _partition_rows(self, table: str, keys: list[str]) -> pa.Table:
        """The rows of `keys`' partitions of `table`, with `video_key` (keys without a partition have none)."""
        schema = lake_schema(table)
        found = self.storage.read_existing([self.storage.partition_path(table, key) for key in keys])
        parts = []
        for key in keys:
            data = found.get(self.storage.partition_path(table, key))
            if data is None:  # no partition (yet, or any more): the video has no rows in this table
                continue
            part = read_parquet_bytes(data, _SCHEMAS[table])
            parts.append(part.append_column(schema.field(KEY_COLUMN), pa.array([key] * part.num_rows, pa.string())))
        return (pa.concat_tables(parts) if parts else schema.empty_table()).cast(schema)

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


def _file_version(path: str) -> str | None:
    try:
        return str(os.stat(path).st_mtime_ns)
    except FileNotFoundError:
        return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


def _file_sizes(delta_table) -> dict[str, int]:
    """Path -> bytes of the files of a Delta table's current version."""
    actions = pa.table(delta_table.get_add_actions(flatten=True))
    return dict(zip(actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist(), strict=True))
