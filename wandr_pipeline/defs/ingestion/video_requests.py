"""How a road that cannot make a run itself asks the daemon for one, durably and from any host.

`POST /process` makes no runs: a new video needs no message (the API registers its partition with a
submission record `submitted_from: api`, and `registered_videos_sensor` requests a run for every such
partition no run ever planned), but a video it knew already (a download that gave up on HTTP 429, a
run that was cancelled) has a partition and a past run. For it the API reports a runless
`AssetObservation` of the `video_requests` asset on the video's partition: a row in the instance's
event log, written by whichever API host took the POST, that the sensor reads after its storage-id
cursor. `url_list_schedule` does the same for the stages it must redo after the download: a schedule's
runs are all of its one job (`defs.jobs.new_videos_job`), so it cannot run them itself.

The sensor answers each request it does not turn into a run (finished meanwhile, failed for good,
covered by a run) with an observation of its own, so `GET /status` can tell a request still waiting for
the sensor from one that was answered.
"""

from __future__ import annotations

from dagster import AssetObservation, AssetRecordsFilter, AssetSpec, DagsterInstance, EventLogRecord

from wandr_pipeline.defs.partitions import videos_partitions

VIDEO_REQUESTS_ASSET = AssetSpec(
    "video_requests",
    group_name="ingestion",
    partitions_def=videos_partitions,
    description="Requests to run a video again, for registered_videos_sensor to carry out: from POST "
    "/process (a video it knew already) and url_list_schedule (stages after the download). One "
    "observation per request on the video's partition, and the sensor's answer to those it did not run.",
    kinds={"text"},
)

# The `kind` metadata of an observation: a request, or the sensor's answer to one.
REQUEST = "request"
ANSWER = "answer"


def request(video_key: str, *, requested_by: str, verdict: str, redo_from: str | None) -> AssetObservation:
    """A request for a run of `video_key`, with the planner's verdict on it when it was asked."""
    return AssetObservation(
        asset_key=VIDEO_REQUESTS_ASSET.key,
        partition=video_key,
        metadata={"kind": REQUEST, "requested_by": requested_by, "verdict": verdict, "redo_from": redo_from or ""},
    )


def answer(video_key: str, reason: str) -> AssetObservation:
    """The sensor's answer to a request it made no run for (returned in its `SensorResult`)."""
    return AssetObservation(
        asset_key=VIDEO_REQUESTS_ASSET.key, partition=video_key, metadata={"kind": ANSWER, "reason": reason}
    )


def kind_of(record: EventLogRecord) -> str | None:
    observation = record.asset_observation
    entry = observation.metadata.get("kind") if observation is not None else None
    return getattr(entry, "value", None)


def observations_after(instance: DagsterInstance, storage_id: int | None, limit: int) -> list[EventLogRecord]:
    """The requests and answers stored after `storage_id`, oldest first, at most `limit` of them."""
    return list(
        instance.fetch_observations(
            AssetRecordsFilter(asset_key=VIDEO_REQUESTS_ASSET.key, after_storage_id=storage_id),
            limit=limit,
            ascending=True,
        ).records
    )


def pending_request_id(instance: DagsterInstance, video_key: str) -> int | None:
    """The storage id of the video's latest request when the sensor has not answered it, else None."""
    records = instance.fetch_observations(
        AssetRecordsFilter(asset_key=VIDEO_REQUESTS_ASSET.key, asset_partitions=[video_key]), limit=1
    ).records
    if records and kind_of(records[0]) == REQUEST:
        return records[0].storage_id
    return None
