"""RapidOCR (PP-OCR models inside its wheel) behind the `OcrEngine` interface: the offline `local` engine."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from wandr_pipeline.engines.ocr import TextBox

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


class RapidOcrEngine:
    """RapidOCR 3.x with the PP-OCR models inside its wheel (no download at run time)."""

    name = "rapidocr"
    use_cuda = False

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
        self._engine = RapidOCR(params=params)

    def read(self, images: Sequence[np.ndarray]) -> list[list[TextBox] | BaseException]:
        results: list[list[TextBox] | BaseException] = []
        for image in images:
            try:
                results.append(self._read_one(image))
            except Exception as exc:  # noqa: BLE001 - recorded per frame
                results.append(exc)
        return results

    def _read_one(self, image: np.ndarray) -> list[TextBox]:
        output = self._engine(image)
        if output.boxes is None or output.txts is None:
            return []
        height, width = image.shape[:2]
        boxes = []
        for polygon, text, score in zip(output.boxes, output.txts, output.scores):
            polygon = np.asarray(polygon, dtype=np.float32)
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
