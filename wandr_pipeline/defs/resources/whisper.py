"""The faster-whisper model as a resource, loaded once per process."""

from __future__ import annotations

import threading

from dagster import ConfigurableResource

from wandr_pipeline.engines.whisper import WhisperTranscriber
from wandr_pipeline.settings import WhisperSettings, from_setting, setting_values

_LOADED: dict[tuple, WhisperTranscriber] = {}
_LOCK = threading.Lock()


class WhisperResource(ConfigurableResource):
    """Speech-to-text settings; `WHISPER_MODEL` picks the model, `WHISPER_LANGUAGE` forces a language."""

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
    translate: bool = from_setting("whisper_translate")
    window_margin_s: int = from_setting("whisper_window_margin_s")

    @classmethod
    def from_settings(cls, whisper: WhisperSettings) -> WhisperResource:
        return cls(**setting_values(cls, whisper))

    def _key(self) -> tuple:
        return (
            self.model,
            self.device,
            self.compute_type,
            self.batch_size,
            self.beam_size,
            self.cpu_threads,
            self.num_workers,
            self.vad,
            self.language,
            self.cross_clip,
            self.chinese_script,
            self.chunk_s,
            self.second_pass_chunk_s,
            self.vad_threshold,
            self.chunk_pause_ms,
            self.translate,
            self.window_margin_s,
        )

    def get_transcriber(self) -> WhisperTranscriber:
        """The loaded model for these settings (loaded on first use, then shared)."""
        key = self._key()
        with _LOCK:
            if key not in _LOADED:
                _LOADED[key] = WhisperTranscriber(
                    self.model,
                    device=self.device,
                    compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                    num_workers=self.num_workers,
                    batch_size=self.batch_size,
                    beam_size=self.beam_size,
                    vad=self.vad,
                    language=self.language or None,
                    chinese_script=self.chinese_script,
                    cross_clip=self.cross_clip if self.cross_clip == "auto" else self.cross_clip == "true",
                    chunk_s=self.chunk_s,
                    second_pass_chunk_s=self.second_pass_chunk_s,
                    vad_threshold=self.vad_threshold,
                    chunk_pause_ms=self.chunk_pause_ms,
                    translate=self.translate,
                    window_margin_s=self.window_margin_s,
                )
            return _LOADED[key]
