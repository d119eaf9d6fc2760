"""A Spanish clip through the whole graph with the multilingual `base`: its language and the detection's
probability land in `transcript_segments` and `video_documents`, and the text is Spanish."""

from __future__ import annotations

import wave

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance

from tests.support.paths import REAL_SPEECH
from wandr_pipeline.cli.runner import run_url_list
from wandr_pipeline.settings import Settings

pytestmark = pytest.mark.slow


def test_spanish_post_records_its_language(tmp_path, dagster_home):
    from wandr_pipeline.engines.whisper import load_audio

    source = REAL_SPEECH / "fleurs-es-002.ogg"
    if not source.exists():
        pytest.skip(f"{source} is not here (shared/ beside the checkout)")
    samples = load_audio(source)[: 5 * 16_000]  # "fue tanta la cantidad de gente ..."
    clip = tmp_path / "plaza_san_pedro.wav"
    with wave.open(str(clip), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    url_list = tmp_path / "list.txt"
    url_list.write_text(f"{clip}\n")
    storage = tmp_path / "storage"
    settings = Settings.from_env(storage_uri=str(storage), whisper_model="base")  # the default (tests pin tiny.en)
    outcome = run_url_list(url_list, settings, DagsterInstance.get())
    assert outcome.keys

    segments = pd.read_parquet(storage / "warehouse" / "transcript_segments")
    assert set(segments.status) == {"ok"}, segments
    assert set(segments.language) == {"es"} and set(segments.model) == {"base"}
    assert segments.language_probability.min() > 0.9
    document = pd.read_parquet(storage / "warehouse" / "video_documents").iloc[0]
    assert document.language == "es" and document.language_probability > 0.9
    assert document.whisper_model == "base"
    assert "cantidad de gente" in document.transcript_text.lower(), document.transcript_text
