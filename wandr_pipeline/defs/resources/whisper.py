"""The faster-whisper model as a resource, loaded once per process."""

from __future__ import annotations

import threading

from dagster import ConfigurableResource
from pydantic import Field

from wandr_pipeline.engines.whisper import WhisperTranscriber

_LOADED: dict[tuple, WhisperTranscriber] = {}
_LOCK = threading.Lock()


class WhisperResource(ConfigurableResource):
    """Speech-to-text settings; `WHISPER_MODEL` picks the model (default: bundled `tiny.en`)."""

    model: str = Field(default="tiny.en", description="Model name (tiny ... large-v3, turbo) or a CTranslate2 folder.")
    device: str = Field(default="auto", description="auto | cpu | cuda")
    compute_type: str = Field(default="auto", description="auto (float16 on cuda, int8 on cpu) or a CTranslate2 type.")
    batch_size: int = Field(default=8, description="BatchedInferencePipeline batch size (1 = sequential decoding).")
    beam_size: int = Field(default=5)
    cpu_threads: int = Field(default=0, description="0 = CTranslate2 default.")
    num_workers: int = Field(default=1, description="Parallel transcriptions on one model.")
    vad: bool = Field(default=True, description="Silero VAD: skips silence and stops hallucinations on it.")
    language: str = Field(default="", description="Force a language code; empty = English for .en models, else detect.")
    cross_clip: str = Field(default="auto", description="Batch speech chunks of different clips together: auto (on a GPU) | true | false. Needs batch_size > 1 and VAD.")

    def _key(self) -> tuple:
        return (self.model, self.device, self.compute_type, self.batch_size, self.beam_size,
                self.cpu_threads, self.num_workers, self.vad, self.language, self.cross_clip)

    def get_transcriber(self) -> WhisperTranscriber:
        """The loaded model for these settings (loaded on first use, then shared)."""
        key = self._key()
        with _LOCK:
            if key not in _LOADED:
                _LOADED[key] = WhisperTranscriber(
                    self.model, device=self.device, compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads, num_workers=self.num_workers, batch_size=self.batch_size,
                    beam_size=self.beam_size, vad=self.vad, language=self.language or None,
                    cross_clip=self.cross_clip if self.cross_clip == "auto" else self.cross_clip.lower() in ("1", "true", "yes", "on"),
                )
            return _LOADED[key]
