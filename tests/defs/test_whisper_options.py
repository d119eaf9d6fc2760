"""The Whisper resource, the doctor and the benchmarks build the same engine options from the same settings,
and the options object declares no defaults of its own (those are the settings')."""

from __future__ import annotations

import dataclasses

import pytest

from wandr_pipeline.defs.resources.whisper import WhisperResource
from wandr_pipeline.engines.whisper_options import TranscriberOptions, transcriber_options
from wandr_pipeline.settings import Settings


def test_options_have_no_defaults_of_their_own():
    for field in dataclasses.fields(TranscriberOptions):
        assert field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING, field.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        transcriber_options(Settings()).chunk_s = 1  # type: ignore[misc]


def test_resource_and_doctor_build_the_same_options():
    settings = Settings(
        whisper_model="tiny.en",
        whisper_language="PT",
        whisper_cross_clip="true",
        whisper_chunk_s=20,
        whisper_vad_threshold=0.4,
        whisper_prefetch=3,
        whisper_translate=True,
    )
    from_resource = WhisperResource.from_settings(settings.whisper).options()
    assert from_resource == transcriber_options(settings)  # what `check_whisper` is given by `run_checks`
    assert (from_resource.language, from_resource.cross_clip, from_resource.chunk_s) == ("pt", "true", 20)
    assert (from_resource.prefetch, from_resource.translate, from_resource.model) == (3, True, "tiny.en")
    assert transcriber_options(settings, chunk_s=5).chunk_s == 5
