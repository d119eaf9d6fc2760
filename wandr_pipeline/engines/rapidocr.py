"""RapidOCR (PP-OCR models inside its wheel) behind the `OcrEngine` interface: the offline `local` engine.

Text detection is three quarters of a frame's time on the CPU and scales with the pixels it sees, so
`read` can be told to look only at some horizontal strips of an image (`regions`, where the frame gate
saw text): the strips are stacked into one smaller image with blank rows between them, detected and
recognised at the same scale as the whole frame, and the boxes mapped back.

Its onnxruntime threads sleep when idle instead of spinning (`no_spinning_sessions`): OCR shares the
cores with frame decoding and Whisper in a stage op, and spinning threads took the CPU they needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from wandr_pipeline.engines.ocr import TextBox

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def no_spinning_sessions() -> None:
    """Make every onnxruntime session RapidOCR creates from now on let its idle threads sleep.

    onnxruntime's thread pool spins between operators by default, waiting for the next one. Alone on
    a machine that saves a little latency. In a stage op, frame decoding and Whisper run in the same
    process on the same cores, and the spinning threads take the CPU those stages need: six one-minute
    clips took 50.3 s on 2 cores with spinning, 45.5 s without (docs/BENCHMARKS.md, "Batch run").
    RapidOCR builds its session options itself (`OrtInferSession._init_sess_opts`) and has no setting
    for this, so that builder is wrapped, once per process. The computed results are the same.
    """
    from rapidocr.inference_engine.onnxruntime.main import OrtInferSession

    build = OrtInferSession._init_sess_opts
    if getattr(build, "no_spinning", False):
        return

    def session_options(cfg):
        options = build(cfg)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return options

    session_options.no_spinning = True
    OrtInferSession._init_sess_opts = staticmethod(session_options)


class RapidOcrEngine:
    """RapidOCR 3.x with the PP-OCR models inside its wheel (no download at run time)."""

    name = "rapidocr"
    use_cuda = False
    reads_regions = True  # `read_frames` may pass `regions` (strips to look in); off on CUDA, see __init__
    STRIP_GAP = 32  # blank rows between stacked strips: no detected box spans two of them

    def __init__(
        self,
        *,
        min_confidence: float,
        use_cuda: bool,
        det_limit_side_len: int = 960,
        threads: int = 0,
        rec_batch_size: int = 32,
        use_angle_classifier: bool = False,
    ):
        from rapidocr import RapidOCR

        params = {
            "Global.log_level": "error",  # "no text detected" is normal, not a warning
            "Global.text_score": float(min_confidence),
            "Det.limit_type": "max",
            "Det.limit_side_len": int(det_limit_side_len),
            # Burned-in captions are upright: the 0/180 degree classifier only costs time (~25 % per
            # frame) and turns symmetric lines upside down ("90 MXN" -> "NXW 06").
            "Global.use_cls": bool(use_angle_classifier),
            "EngineConfig.onnxruntime.use_cuda": bool(use_cuda),
        }
        if threads > 0:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = int(threads)
        if use_cuda:
            # Text crops vary in width: an exhaustive cuDNN search per new shape costs more than it saves.
            params["EngineConfig.onnxruntime.cuda_ep_cfg.cudnn_conv_algo_search"] = "HEURISTIC"
            params["Rec.rec_batch_num"] = int(rec_batch_size)
        self.use_cuda = bool(use_cuda)
        # On CUDA detection is cheap and stacked strips would give it a new input shape per frame:
        # unmeasured there, so `read_frames` sends whole frames (`read` still takes regions).
        self.reads_regions = not self.use_cuda
        no_spinning_sessions()
        self._engine = RapidOCR(params=params)

    def read(
        self, images: Sequence[np.ndarray], regions: Sequence[Sequence[tuple[float, float]] | None] | None = None
    ) -> list[list[TextBox] | BaseException]:
        """Boxes per image; `regions[i]` (strips as (top, bottom) shares of the height) limits image i
        to those strips, None reads it whole."""
        results: list[list[TextBox] | BaseException] = []
        for position, image in enumerate(images):
            strips = regions[position] if regions is not None else None
            try:
                results.append(self._read_strips(image, strips) if strips else self._read_one(image))
            except Exception as exc:  # noqa: BLE001 - recorded per frame
                results.append(exc)
        return results

    def _read_strips(self, image: np.ndarray, strips: Sequence[tuple[float, float]]) -> list[TextBox]:
        height = image.shape[0]
        rows: list[list[int]] = []  # merged (top, bottom) pixel rows
        for top, bottom in sorted(strips):
            top_row, bottom_row = max(0, int(top * height)), min(height, int(np.ceil(bottom * height)))
            if bottom_row <= top_row:
                continue
            if rows and top_row <= rows[-1][1] + self.STRIP_GAP:  # close strips: one
                rows[-1][1] = max(rows[-1][1], bottom_row)
            else:
                rows.append([top_row, bottom_row])
        spans = []  # (top row in the image, bottom row, top row in the stack)
        parts = []
        stacked = 0
        for top_row, bottom_row in rows:
            if parts:
                parts.append(np.zeros((self.STRIP_GAP, *image.shape[1:]), image.dtype))
                stacked += self.STRIP_GAP
            spans.append((top_row, bottom_row, stacked))
            parts.append(image[top_row:bottom_row])
            stacked += bottom_row - top_row
        if not parts:
            return []
        if stacked >= 0.8 * height:  # most of the frame anyway: read it whole
            return self._read_one(image)
        stack = np.ascontiguousarray(np.concatenate(parts, axis=0))

        def to_image(polygon: np.ndarray) -> np.ndarray | None:
            centre = float(polygon[:, 1].mean())
            for top_row, bottom_row, stack_top in spans:
                if stack_top <= centre < stack_top + bottom_row - top_row:
                    shifted = polygon.copy()
                    shifted[:, 1] = np.clip(shifted[:, 1] + (top_row - stack_top), top_row, bottom_row)
                    return shifted
            return None  # in a gap: nothing there

        return self._read_one(stack, to_image=to_image, size=image.shape[:2])

    def _read_one(self, image: np.ndarray, *, to_image=None, size: tuple[int, int] | None = None) -> list[TextBox]:
        output = self._engine(image)
        if output.boxes is None or output.txts is None:
            return []
        height, width = size or image.shape[:2]
        boxes = []
        for polygon, text, score in zip(output.boxes, output.txts, output.scores):
            polygon = np.asarray(polygon, dtype=np.float32)
            if to_image is not None:
                polygon = to_image(polygon)
                if polygon is None:
                    continue
            x0, y0 = polygon.min(axis=0)
            x1, y1 = polygon.max(axis=0)
            text = text.strip()
            if not text:
                continue
            boxes.append(
                TextBox(
                    text=text,
                    confidence=float(score),
                    x0=max(0.0, x0 / width),
                    y0=max(0.0, y0 / height),
                    x1=min(1.0, x1 / width),
                    y1=min(1.0, y1 / height),
                )
            )
        boxes.sort(key=lambda b: (round(b.y0, 2), b.x0))
        return boxes
