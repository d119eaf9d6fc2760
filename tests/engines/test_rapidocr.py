"""The local OCR engine reading only some strips of a frame: the lines there, where they are on the frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from rapidocr.inference_engine.onnxruntime.main import OrtInferSession

from wandr_pipeline.engines.rapidocr import RapidOcrEngine


@pytest.fixture(scope="module")
def engine():
    return RapidOcrEngine(min_confidence=0.5, use_cuda=False)


def _poster() -> np.ndarray:
    image = np.full((960, 540, 3), 40, np.uint8)
    for text, y in (("FREE ENTRY", 0.2), ("OPEN DAILY", 0.7)):
        cv2.putText(image, text, (60, int(960 * y)), cv2.FONT_HERSHEY_DUPLEX, 1.6, (255, 255, 255), 3, cv2.LINE_AA)
    return image


def test_strips_read_only_their_lines_with_boxes_where_the_whole_frame_has_them(engine):
    image = _poster()
    whole, top_only, both = engine.read(
        [image, image, image], regions=[None, [(0.15, 0.24)], [(0.6, 0.75), (0.15, 0.24)]]
    )
    assert [b.text for b in whole] == ["FREE ENTRY", "OPEN DAILY"]
    assert [b.text for b in top_only] == ["FREE ENTRY"]
    assert [b.text for b in both] == ["FREE ENTRY", "OPEN DAILY"]
    for strip_box, whole_box in zip(both, whole):  # mapped back to the frame's coordinates
        for side in ("x0", "y0", "x1", "y1"):
            assert getattr(strip_box, side) == pytest.approx(getattr(whole_box, side), abs=0.01)


def test_an_empty_strip_list_reads_the_whole_frame_and_strips_over_most_of_it_too(engine):
    image = _poster()
    empty, most = engine.read([image, image], regions=[(), [(0.0, 0.9)]])
    assert [b.text for b in empty] == [b.text for b in most] == ["FREE ENTRY", "OPEN DAILY"]


def test_on_cuda_frames_are_read_whole(monkeypatch):
    # Stacked strips are measured on the CPU only: a CUDA engine tells read_frames to send whole frames.
    import rapidocr

    monkeypatch.setattr(rapidocr, "RapidOCR", type("FakeRapidOCR", (), {"__init__": lambda self, params: None}))
    assert RapidOcrEngine(min_confidence=0.5, use_cuda=True).reads_regions is False
    assert RapidOcrEngine(min_confidence=0.5, use_cuda=False).reads_regions is True


def test_its_onnxruntime_sessions_let_idle_threads_sleep(engine):
    # Spinning threads took the CPU that frame decoding and Whisper need in the same stage op.
    image = _poster()
    assert [b.text for b in engine.read([image])[0]] == ["FREE ENTRY", "OPEN DAILY"]  # models now loaded
    sessions = [engine._engine.text_det.session.session, engine._engine.text_rec.session.session]
    for session in sessions:
        options = session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    builder = OrtInferSession._init_sess_opts
    RapidOcrEngine(min_confidence=0.5, use_cuda=False)
    assert OrtInferSession._init_sess_opts is builder  # a second engine does not wrap the builder again
