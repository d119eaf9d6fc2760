"""Every knob of the Whisper transcriber in one frozen object, with no defaults of its own.

The defaults, bounds and documentation are the settings' (`settings.WhisperSettings`, declared once); the
Dagster resource builds this object from its fields, `wandr-pipeline doctor` and `GET /health` from the
settings, and benchmarks and tests through `transcriber_options` with their overrides, so the engine, its
health check and every measurement read the same knobs under the same names. The values are as the
settings hold them (`language` empty: detected; `cross_clip` auto | true | false): the engine interprets
them, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from wandr_pipeline.settings import WhisperSettings

SETTING_PREFIX = "whisper_"  # option `chunk_s` is setting `whisper_chunk_s`


@dataclass(frozen=True)
class TranscriberOptions:
    """What `WhisperTranscriber` loads and how it decodes; each field is the setting `whisper_<field>`."""

    model: str  # what `whisper_models.resolve_model` accepts
    device: str  # auto | cpu | cuda (`device.choose_whisper_device`)
    compute_type: str  # auto or a CTranslate2 compute type
    cpu_threads: int  # CTranslate2 CPU threads (0: its default)
    num_workers: int  # parallel transcriptions on one model
    batch_size: int  # faster-whisper's batched pipeline (1: sequential decoding)
    beam_size: int
    vad: bool  # Silero voice activity detection
    vad_threshold: float  # Silero's speech probability
    language: str  # a Whisper code; empty: detected per clip
    chinese_script: str  # simplified | traditional | as-is
    chunk_s: int  # longest stretch of speech decoded as one piece
    chunk_pause_ms: int  # a pause this long ends a chunk (0: speech merged up to chunk_s)
    chunk_cut: str  # limit | pause: where a chunk ends (`media.speech_chunks`)
    second_pass_chunk_s: int  # chunk length of the second pass over uncovered speech (0: no coverage check)
    cross_clip: str  # auto | true | false: batch chunks of different clips together
    prefetch: int  # clips decoded ahead on CPU threads while one is transcribed
    translate: bool  # also the trusted non-English speech in English
    translate_first_pass: bool  # translate first-pass chunks on their encoder output (`whisper_chunk_language`)
    window_margin_s: int  # silence the encoder sees after a batch's longest chunk (`whisper_window`; 30: full window)


def transcriber_options(whisper: WhisperSettings, **overrides: Any) -> TranscriberOptions:
    """The options `whisper` (a `WhisperSettings` or the whole `Settings`) holds, with `overrides` by option name."""
    options = TranscriberOptions(
        **{f.name: getattr(whisper, SETTING_PREFIX + f.name) for f in fields(TranscriberOptions)}
    )
    return replace(options, **overrides)
