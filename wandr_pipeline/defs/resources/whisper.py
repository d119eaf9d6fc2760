"""The faster-whisper model as a resource, loaded once per process."""

from __future__ import annotations

import threading
from dataclasses import fields

from dagster import ConfigurableResource

from wandr_pipeline.engines.whisper import WhisperTranscriber
from wandr_pipeline.engines.whisper_options import TranscriberOptions
from wandr_pipeline.settings import WhisperSettings, from_setting, setting_values

_LOADED: dict[TranscriberOptions, WhisperTranscriber] = {}
_LOCK = threading.Lock()


class WhisperResource(ConfigurableResource):
    """Speech-to-text settings; `WHISPER_MODEL` picks the model, `WHISPER_LANGUAGE` forces a language.

    Each field is the `TranscriberOptions` field of the same name."""

    model: str = from_setting("whisper_model")
    device: str = from_setting("whisper_device")
    compute_type: str = from_setting("whisper_compute_type")
    batch_size: int = from_setting("whisper_batch_size")
    beam_size: int = from_setting("whisper_beam_size")
    cpu_threads: int = from_setting("whisper_cpu_threads")
    num_workers: int = from_setting("whisper_num_workers")
    vad: bool = from_setting("whisper_vad")
    language: str = from_setting("whisper_language")
    chinese_script: str = from_setting("whisper_chinese_script")
    cross_clip: str = from_setting("whisper_cross_clip")
    chunk_s: int = from_setting("whisper_chunk_s")
    second_pass_chunk_s: int = from_setting("whisper_second_pass_chunk_s")
    vad_threshold: float = from_setting("whisper_vad_threshold")
    chunk_pause_ms: int = from_setting("whisper_chunk_pause_ms")
    chunk_cut: str = from_setting("whisper_chunk_cut")
    prefetch: int = from_setting("whisper_prefetch")
    translate: bool = from_setting("whisper_translate")
    translate_first_pass: bool = from_setting("whisper_translate_first_pass")
    window_margin_s: int = from_setting("whisper_window_margin_s")

    @classmethod
    def from_settings(cls, whisper: WhisperSettings) -> WhisperResource:
        return cls(**setting_values(cls, whisper))

    def options(self) -> TranscriberOptions:
        """The engine's options, as these fields say."""
        return TranscriberOptions(**{f.name: getattr(self, f.name) for f in fields(TranscriberOptions)})

    def get_transcriber(self) -> WhisperTranscriber:
        """The loaded model for these settings (loaded on first use, then shared)."""
        options = self.options()
        with _LOCK:
            if options not in _LOADED:
                _LOADED[options] = WhisperTranscriber(options)
            return _LOADED[options]
