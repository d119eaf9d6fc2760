"""Sensors that make the pipeline run by itself (docs/INGESTION.md).

- `url_list_sensor` watches `data/url_lists/` (and `<bucket root>/url_lists/` on GCS) for new or
  changed list files, registers their videos as partitions and requests `ingest_videos` runs.
- `downstream_batch_sensor` follows up: it groups partitions whose upstream stages are done into
  `gpu_stages` runs (transcript, OCR, documents) of up to N videos, and re-runs `extract_media` /
  `refresh_documents` for videos whose inputs changed since (a backfill of an upstream stage).

The work is in `wandr_pipeline.lib.ingestion` and `wandr_pipeline.lib.batching` (no Dagster there); this
module reads the instance's state and turns the decisions into `SensorResult`s.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from wandr_pipeline.lib import ingestion
from wandr_pipeline.lib.batching import plan_batches
from wandr_pipeline.defs.jobs import (
    AUTOMATION_JOBS,
    DOCUMENT_ASSETS,
    EXTRACT_MEDIA_JOB,
    GPU_STAGE_ASSETS,
    GPU_STAGES_JOB,
    INGEST_ASSETS,
    INGEST_VIDEOS_JOB,
    MEDIA_ASSETS,
    PROCESS_VIDEOS_JOB,
    REFRESH_DOCUMENTS_JOB,
)
from wandr_pipeline.defs.partitions import VIDEOS_PARTITIONS_NAME, videos_partitions
from wandr_pipeline.defs.resources.storage import storage_for
from wandr_pipeline.cli.runner import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG, contiguous_batches
from wandr_pipeline.settings import Settings
from wandr_pipeline.lib.url_lists import ParsedUrlList

PARTITION_TAG = "dagster/partition"
STAGE_ASSET_NAMES = ("raw_video", "audio", "transcript", "sampled_frames", "ocr_text", "caption_spans",
                     "video_documents")
ACTIVE_STATUSES = [
    DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING,
]
# Which stage assets a run of each job materialises (runs with an explicit asset selection, such
# as backfills, say so themselves; an unknown job counts as touching every stage).
JOB_ASSETS: dict[str, tuple[str, ...]] = {
    PROCESS_VIDEOS_JOB: STAGE_ASSET_NAMES,
    INGEST_VIDEOS_JOB: INGEST_ASSETS,
    EXTRACT_MEDIA_JOB: MEDIA_ASSETS,
    GPU_STAGES_JOB: GPU_STAGE_ASSETS,
    REFRESH_DOCUMENTS_JOB: DOCUMENT_ASSETS,
}
# A local list file modified this recently may still be being written: it waits a tick.
SETTLE_SECONDS = 2.0

# The lists themselves, as an asset the UI shows: each materialisation is one list version,
# with its counts and its rejected lines (line number, reason).
URL_LISTS_ASSET = AssetSpec(
    "url_lists",
    group_name="ingestion",
    description="URL list files ingested by url_list_sensor / url_list_schedule. Each materialization is "
                "one version of one list: counts of accepted, new and duplicate videos, and the rejected "
                "lines with their reasons (also in the url_list_rejections table).",
    kinds={"text"},
)


# --------------------------------------------------------------------------------------------
# What the instance knows: partition order, materialisations, runs in flight
# --------------------------------------------------------------------------------------------
@dataclass
class InFlight:
    """Partition keys covered by queued or running runs, by stage asset name."""

    keys_by_asset: dict[str, set[str]] = field(default_factory=dict)

    def keys(self, assets: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for asset in assets:
            found |= self.keys_by_asset.get(asset, set())
        return found


def _run_partition_keys(tags: Mapping[str, str], position: Mapping[str, int], order: Sequence[str]) -> list[str]:
    if tags.get(PARTITION_TAG):
        return [tags[PARTITION_TAG]]
    start, end = tags.get(PARTITION_RANGE_START_TAG), tags.get(PARTITION_RANGE_END_TAG)
    if start in position and end in position:
        return list(order[position[start]:position[end] + 1])
    return []


def in_flight(instance: DagsterInstance, order: Sequence[str]) -> InFlight:
    """Which partitions of which stages queued/running runs will materialise."""
    position = {key: i for i, key in enumerate(order)}
    result = InFlight()
    for run in instance.get_runs(filters=RunsFilter(statuses=ACTIVE_STATUSES)):
        keys = _run_partition_keys(run.tags, position, order)
        if not keys:
            continue
        if run.asset_selection:
            assets = [key.to_user_string() for key in run.asset_selection]
        else:
            assets = list(JOB_ASSETS.get(run.job_name, STAGE_ASSET_NAMES))
        for asset in assets:
            if asset in STAGE_ASSET_NAMES:
                result.keys_by_asset.setdefault(asset, set()).update(keys)
    return result


def latest_materializations(instance: DagsterInstance, assets: Iterable[str]) -> dict[str, Mapping[str, int]]:
    """asset -> {partition key: storage id of its latest materialisation}."""
    storage = instance.event_log_storage
    return {
        asset: storage.get_latest_storage_id_by_partition(AssetKey(asset), DagsterEventType.ASSET_MATERIALIZATION)
        for asset in assets
    }


def range_tags(batch: Sequence[str]) -> dict[str, str]:
    return {PARTITION_RANGE_START_TAG: batch[0], PARTITION_RANGE_END_TAG: batch[-1]}


def _digest(*parts: object) -> str:
    return hashlib.sha256("\n".join(str(p) for p in parts).encode()).hexdigest()[:12]


# --------------------------------------------------------------------------------------------
# Ingestion: shared by the sensor (many files) and the schedule (one list)
# --------------------------------------------------------------------------------------------
class IngestionTick:
    """One evaluation's ingestion: videos to register, keys to run, rejections to report."""

    def __init__(self, instance: DagsterInstance, settings: Settings, log, *, deadline: float):
        self.instance = instance
        self.settings = settings
        self.log = log
        self.deadline = deadline
        self.storage = storage_for(settings.storage_uri)
        self.order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
        self.existing = set(self.order)
        self.ingested = instance.get_materialized_partitions(AssetKey("raw_video"))
        self.busy = in_flight(instance, self.order).keys(["raw_video"])
        self.new_keys: list[str] = []
        self.request_keys: list[str] = []
        self.budget = max(0, settings.ingest_max_videos_per_tick)
        self.list_events: list[AssetMaterialization] = []
        self.versions: list[str] = []

    @property
    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline or self.budget <= 0

    def ingest(self, uri: str, parsed: ParsedUrlList, sha256: str, *, report: bool, retry_unprocessed: bool) -> bool:
        """Register (part of) one parsed list; returns True when every new video of it is registered.

        `report`: log and record the rejected lines (once per list version); `retry_unprocessed`:
        also request keys of the list that are registered but never got their first stage.
        """
        self.versions.append(sha256)
        if report:
            self.report(uri, parsed, sha256)
        selection = ingestion.select_videos(
            parsed.accepted, existing=self.existing, ingested=self.ingested, busy=self.busy,
            retry_unprocessed=retry_unprocessed, max_new=self.budget,
        )
        written = ingestion.record_within_budget(self.storage, selection.to_register, source=uri,
                                                 deadline=self.deadline)
        new = [ref.video_key for ref in written]
        left = selection.remaining + len(selection.to_register) - len(written)
        retried = [key for key in selection.to_request if key in self.existing]
        self.existing.update(new)
        self.new_keys += new
        self.busy.update(retried)
        self.request_keys += [key for key in retried if key not in self.request_keys] + new
        self.budget -= len(new)
        summary = (f"{uri}: {len(parsed.accepted)} video(s), {len(new)} new registered"
                   f"{f', {left} left for the next tick' if left else ''}, {selection.already_known} already known"
                   f"{f' ({len(retried)} never ingested: requested again)' if retried else ''}, "
                   f"{parsed.duplicates} duplicate line(s), {len(parsed.rejected)} rejected line(s)")
        self.log.info(summary)
        return left == 0

    def report(self, uri: str, parsed: ParsedUrlList, sha256: str) -> None:
        """Rejected lines go to the tick log, the url_list_rejections table and the url_lists asset."""
        for line in ingestion.describe_rejections(parsed.rejected):
            self.log.warning(f"{uri}: rejected {line}")
        table_path = None
        try:
            table_path = ingestion.write_rejections(self.storage, uri, sha256, parsed.rejected)
        except Exception as exc:  # noqa: BLE001 - the tick log above still has them
            self.log.error(f"{uri}: could not write the url_list_rejections table: {exc}")
        rows = ["| line | text | reason |", "|---|---|---|"] + [
            f"| {r.line_number} | {r.text[:80].replace('|', '/')} | {r.reason.replace('|', '/')} |"
            for r in parsed.rejected[:100]
        ]
        metadata = {
            "source": uri, "list_sha256": sha256, "videos": len(parsed.accepted),
            "duplicate_lines": parsed.duplicates, "rejected_lines": len(parsed.rejected),
        }
        if parsed.rejected:
            metadata["rejected"] = MetadataValue.md("\n".join(rows))
        if table_path:
            metadata["rejections_table"] = MetadataValue.path(table_path)
        self.list_events.append(AssetMaterialization(asset_key=URL_LISTS_ASSET.key, metadata=metadata))

    def run_requests(self, run_key_prefix: str) -> list[RunRequest]:
        """`ingest_videos` runs over adjacent keys, at most WANDR_PARTITIONS_PER_RUN each."""
        order = self.order + self.new_keys
        batches = contiguous_batches(order, self.request_keys, max(1, self.settings.partitions_per_run))
        versions = ",".join(sorted(set(self.versions)))
        return [
            RunRequest(job_name=INGEST_VIDEOS_JOB, tags=range_tags(batch),
                       run_key=f"{run_key_prefix}:{batch[0]}..{batch[-1]}:{_digest(*batch, versions)}")
            for batch in batches
        ]


# --------------------------------------------------------------------------------------------
# url_list_sensor
# --------------------------------------------------------------------------------------------
def _load_cursor(cursor: str | None) -> dict:
    try:
        data = json.loads(cursor) if cursor else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def evaluate_url_lists(context: SensorEvaluationContext, settings: Settings) -> SensorResult | SkipReason:
    state = _load_cursor(context.cursor)
    files_state: dict[str, dict] = state.setdefault("files", {})
    tick = IngestionTick(context.instance, settings, context.log,
                         deadline=time.monotonic() + settings.ingest_tick_budget_s)
    candidates: list[ingestion.ListFile] = []
    for location in settings.url_list_dirs:
        try:
            candidates += ingestion.find_list_files(location, settings.url_list_suffixes)
        except Exception as exc:  # noqa: BLE001 - one unreachable location must not stop the others
            context.log.error(f"cannot list {location}: {exc}")
    candidates.sort(key=lambda f: (f.modified or 0.0, f.uri))
    now = time.time()
    pending_files = 0
    for listed in candidates:
        known = files_state.get(listed.uri)
        if known and known.get("sig") == listed.signature and known.get("done"):
            continue
        if tick.out_of_time and tick.versions:  # every tick makes some progress
            pending_files += 1
            continue
        if listed.modified is not None and now - listed.modified < SETTLE_SECONDS:
            pending_files += 1  # still being written: next tick
            continue
        try:
            data = ingestion.read_list_bytes(listed.uri)
        except Exception as exc:  # noqa: BLE001
            context.log.error(f"cannot read {listed.uri}: {exc}")
            continue
        sha = ingestion.content_sha256(data)
        if known and known.get("sha") == sha and known.get("done"):
            files_state[listed.uri] = {**known, "sig": listed.signature}  # touched, not changed
            continue
        first_time = not (known and known.get("sha") == sha)
        parsed = ingestion.parse_list_bytes(listed.uri, data, allow_local_files=settings.accepts_local_files,
                                         local_roots=settings.local_input_roots)
        done = tick.ingest(listed.uri, parsed, sha, report=first_time, retry_unprocessed=first_time)
        files_state[listed.uri] = {"sig": listed.signature, "sha": sha, "done": done}
        if not done:
            pending_files += 1
    seen = {f.uri for f in candidates}
    state["files"] = {uri: value for uri, value in files_state.items() if uri in seen}
    cursor = json.dumps(state, sort_keys=True)
    if not tick.new_keys and not tick.request_keys and not tick.list_events:
        if cursor != (context.cursor or ""):
            return SensorResult(cursor=cursor, skip_reason="no new videos in the URL lists")
        return SkipReason(f"no new or changed URL lists in {', '.join(settings.url_list_dirs)}")
    requests = tick.run_requests("url_list")
    context.log.info(f"registered {len(tick.new_keys)} new video(s); requesting {len(requests)} ingest run(s) "
                     f"for {len(tick.request_keys)} video(s)"
                     f"{f'; {pending_files} list(s) continue on the next tick' if pending_files else ''}")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[videos_partitions.build_add_request(tick.new_keys)] if tick.new_keys else [],
        asset_events=tick.list_events,
        cursor=cursor,
    )


# --------------------------------------------------------------------------------------------
# downstream_batch_sensor
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageGroup:
    """Assets that run together, once every `upstream` asset has a newer materialisation."""

    name: str
    job: str
    targets: tuple[str, ...]
    upstream: tuple[str, ...]


STAGE_GROUPS = (
    StageGroup("media", EXTRACT_MEDIA_JOB, MEDIA_ASSETS, ("raw_video",)),
    StageGroup("gpu", GPU_STAGES_JOB, GPU_STAGE_ASSETS, ("audio",)),
    StageGroup("documents", REFRESH_DOCUMENTS_JOB, DOCUMENT_ASSETS,
               ("raw_video", "audio", "transcript", "sampled_frames", "ocr_text", "caption_spans")),
)


def ready_keys(group: StageGroup, order: Sequence[str], latest: Mapping[str, Mapping[str, int]],
               exclude: set[str]) -> list[str]:
    """Keys whose upstream is all materialised and newer than the group's oldest target."""
    ready = []
    for key in order:
        if key in exclude:
            continue
        upstream_ids = [latest[asset].get(key) for asset in group.upstream]
        if any(i is None for i in upstream_ids):
            continue
        oldest_target = min(latest[asset].get(key, -1) for asset in group.targets)
        if max(upstream_ids) > oldest_target:
            ready.append(key)
    return ready


def evaluate_downstream(context: SensorEvaluationContext, settings: Settings) -> SensorResult | SkipReason:
    state = _load_cursor(context.cursor)
    held_state: dict[str, dict[str, float]] = state.get("held", {})
    instance = context.instance
    order = list(instance.get_dynamic_partitions(VIDEOS_PARTITIONS_NAME))
    if not order:
        return SkipReason("no videos registered yet")
    latest = latest_materializations(instance, STAGE_ASSET_NAMES)
    flight = in_flight(instance, order)
    now = time.time()
    requests: list[RunRequest] = []
    new_held: dict[str, dict[str, float]] = {}
    requested: set[str] = set()
    for group in STAGE_GROUPS:
        busy = flight.keys(group.targets) | requested
        upcoming = flight.keys(set(STAGE_ASSET_NAMES) - set(group.targets)) - busy
        ready = ready_keys(group, order, latest, busy)
        plan = plan_batches(order, ready, upcoming, settings.partitions_per_run,
                            first_ready_at=held_state.get(group.name, {}), now=now,
                            max_wait_s=settings.batch_max_wait_s)
        for batch in plan.batches:
            version = max(max(latest[a].get(k, -1) for a in group.upstream) for k in batch)
            requests.append(RunRequest(
                job_name=group.job, tags=range_tags(batch),
                run_key=f"{group.name}:{batch[0]}..{batch[-1]}:{_digest(*batch, version)}",
            ))
            requested.update(batch)
            context.log.info(f"{group.name}: requesting {group.job} for {len(batch)} video(s) "
                             f"{batch[0]}..{batch[-1]}")
        if plan.held:
            new_held[group.name] = plan.held
            context.log.info(f"{group.name}: holding {len(plan.held)} ready video(s) next to videos still "
                             f"in flight upstream, to batch them together (at most {settings.batch_max_wait_s:.0f} s)")
    cursor = json.dumps({"held": new_held}, sort_keys=True)
    if not requests:
        held = sum(len(v) for v in new_held.values())
        reason = f"holding {held} video(s) for fuller batches" if held else "no videos ready for a downstream stage"
        return SensorResult(cursor=cursor, skip_reason=reason)
    return SensorResult(run_requests=requests, cursor=cursor)


# --------------------------------------------------------------------------------------------
# Definitions
# --------------------------------------------------------------------------------------------
def build_sensors(settings: Settings):
    @sensor(
        name="url_list_sensor",
        jobs=[job for job in AUTOMATION_JOBS if job.name == INGEST_VIDEOS_JOB],
        minimum_interval_seconds=max(1, settings.sensor_interval_s),
        default_status=DefaultSensorStatus.RUNNING,
        description="Registers the videos of new or changed URL list files in "
                    f"{', '.join(settings.url_list_dirs)} and requests ingest runs for them.",
    )
    def url_list_sensor(context: SensorEvaluationContext):
        return evaluate_url_lists(context, settings)

    @sensor(
        name="downstream_batch_sensor",
        jobs=[job for job in AUTOMATION_JOBS if job.name != INGEST_VIDEOS_JOB],
        minimum_interval_seconds=max(1, settings.sensor_interval_s),
        default_status=DefaultSensorStatus.RUNNING,
        description="Groups videos whose upstream stages are done into gpu_stages (and extract_media / "
                    "refresh_documents) runs "
                    f"of up to {settings.partitions_per_run} videos.",
    )
    def downstream_batch_sensor(context: SensorEvaluationContext):
        return evaluate_downstream(context, settings)

    return [url_list_sensor, downstream_batch_sensor]
