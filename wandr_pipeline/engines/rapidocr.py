"""RapidOCR (PP-OCR models inside its wheel) behind the `OcrEngine` interface: the offline `local` engine.

Text detection is three quarters of a frame's time on the CPU and scales with the pixels it sees, so
`read` can be told to look only at some horizontal strips of an image (`regions`, where the frame gate
saw text): the strips are stacked into one smaller image with blank rows between them, detected and
recognised at the same scale as the whole frame, and the boxes mapped back.

Lines the detector found but the recogniser could not read (a script its models do not know, emoji)
come back as boxes with no text and an `unread_reason` (media/unread_text.py) instead of being dropped
or passed off as a guess: RapidOCR itself drops a line it recognised nothing in, so `_KeepsUnrecognised`
keeps those boxes, and the per-character scores and boxes (`return_single_char_box`) tell the rest.

Its onnxruntime threads sleep when idle instead of spinning (`no_spinning_sessions`): OCR shares the
cores with frame decoding and Whisper in a stage op, and spinning threads took the CPU they needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from wandr_pipeline.engines.ocr import TextBox
from wandr_pipeline.media.unread_text import SeenLine, judge_lines

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


def _keeps_unrecognised(rapidocr_class):
    """RapidOCR answering `(output, unrecognised)`: its usual output, and the polygons (in the image's
    pixels) of the lines it detected but recognised nothing in, which its output leaves out."""
    from rapidocr.utils.process_img import map_boxes_to_original

    class KeepsUnrecognised(rapidocr_class):
        def build_final_output(self, ori_img, det_res, cls_res, rec_res, cropped_img_list, op_record):
            unrecognised = np.zeros((0, 4, 2), np.float32)
            if det_res.boxes is not None and len(det_res.boxes):
                texts = rec_res.txts
                empty = (
                    list(range(len(det_res.boxes)))
                    if texts is None
                    else [i for i, t in enumerate(texts) if not t.strip()]
                )
                if empty:
                    height, width = ori_img.shape[:2]
                    picked = np.array(det_res.boxes, dtype=np.float32)[empty]  # a copy: the mapping works in place
                    unrecognised = map_boxes_to_original(picked, op_record, height, width)
            output = super().build_final_output(ori_img, det_res, cls_res, rec_res, cropped_img_list, op_record)
            return output, unrecognised

    return KeepsUnrecognised


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
            # Every recognised line comes back; `_read_one` keeps those over `min_confidence` and judges
            # the rest (media/unread_text.py) with the per-character scores and boxes.
            "Global.text_score": 0.0,
            "Global.return_word_box": True,
            "Global.return_single_char_box": True,
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
        self.min_confidence = float(min_confidence)
        # On CUDA detection is cheap and stacked strips would give it a new input shape per frame:
        # unmeasured there, so `read_frames` sends whole frames (`read` still takes regions).
        self.reads_regions = not self.use_cuda
        no_spinning_sessions()
        self._engine = _keeps_unrecognised(RapidOCR)(params=params)

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
        output, unrecognised = self._engine(image)
        polygons, lines = [], []
        if output.boxes is not None and output.txts is not None:
            words = output.word_results or ()
            if len(words) != len(output.txts):  # RapidOCR leaves out a line with no character boxes
                words = [()] * len(output.txts)
            for polygon, text, score, chars in zip(output.boxes, output.txts, output.scores, words):
                polygons.append(np.asarray(polygon, dtype=np.float32))
                lines.append(_seen_line(polygons[-1], text.strip(), float(score), chars))
        for polygon in unrecognised:
            polygons.append(np.asarray(polygon, dtype=np.float32))
            lines.append(_seen_line(polygons[-1], "", float("nan"), ()))
        height, width = size or image.shape[:2]
        boxes = []
        for polygon, line, reason in zip(polygons, lines, judge_lines(lines, self.min_confidence)):
            if reason is None and (not line.text or not line.confidence >= self.min_confidence):
                continue  # an unsure mark (not line-shaped): dropped, as the confidence threshold always did
            if to_image is not None:
                polygon = to_image(polygon)
                if polygon is None:
                    continue
            x0, y0 = polygon.min(axis=0)
            x1, y1 = polygon.max(axis=0)
            boxes.append(
                TextBox(
                    text="" if reason else line.text,
                    confidence=line.confidence,
                    x0=max(0.0, x0 / width),
                    y0=max(0.0, y0 / height),
                    x1=min(1.0, x1 / width),
                    y1=min(1.0, y1 / height),
                    unread_reason=reason,
                )
            )
        boxes.sort(key=lambda b: (round(b.y0, 2), b.x0))
        return boxes


def _seen_line(polygon: np.ndarray, text: str, confidence: float, chars) -> SeenLine:
    """A detected line as `media/unread_text.py` judges it; `chars`: RapidOCR's (char, score, box) per character."""
    x0, y0 = polygon.min(axis=0)
    x1, y1 = polygon.max(axis=0)
    scores = [float(score) for char, score, _ in chars if str(char).strip()]
    xs = [float(x) for _, _, box in chars for x, _ in np.asarray(box, dtype=np.float32).reshape(-1, 2)]
    return SeenLine(
        float(x0),
        float(y0),
        float(x1),
        float(y1),
        text=text,
        confidence=confidence,
        char_scores=scores,
        char_span=(min(xs), max(xs)) if xs else None,
    )
