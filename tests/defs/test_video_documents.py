"""A video's document row: what it says about the transcript it was built beside."""

from wandr_pipeline.defs.videos.video_documents import build_document
from wandr_pipeline.lib.outcomes import EMPTY, OK, SUSPECT
from wandr_pipeline.lib.schemas import AUDIO, FRAMES, OCR_TEXT, TRANSCRIPT_SEGMENTS, VIDEOS, status_row, to_table

REASON = "the model was unsure of its words (mean word probability 0.59 < 0.7)"


def _inputs(transcript_status: str):
    video = to_table(VIDEOS, [status_row(VIDEOS, OK, None, source_url="https://example.com/v.mp4", title="t")])
    audio = to_table(AUDIO, [status_row(AUDIO, OK, None)])
    segment = {"segment_index": 0, "start_s": 0.0, "end_s": 2.0, "text": "hello there", "model": "tiny.en"}
    transcript = to_table(
        TRANSCRIPT_SEGMENTS,
        [
            {
                **status_row(TRANSCRIPT_SEGMENTS, transcript_status, REASON if transcript_status != OK else None),
                **segment,
            }
        ],
    )
    frames = to_table(FRAMES, [status_row(FRAMES, EMPTY, "no frames")])
    ocr = to_table(OCR_TEXT, [status_row(OCR_TEXT, EMPTY, "no text")])
    return video, audio, transcript, frames, ocr


def test_a_trusted_transcript_gives_its_text_and_model():
    document = build_document(*_inputs(OK))
    assert document["transcript_text"] == "hello there"
    assert document["whisper_model"] == "tiny.en"


def test_a_suspect_transcript_is_left_out_but_its_model_is_named():
    document = build_document(*_inputs(SUSPECT))
    assert document["transcript_text"] is None
    assert document["whisper_model"] == "tiny.en"
    assert document["transcript_left_out"].startswith("1 of 1 transcript segment(s) left out as suspect: the model")


def test_only_trusted_segments_reach_the_document_and_it_says_what_was_left_out():
    video, audio, _, frames, ocr = _inputs(OK)
    rows = [
        ("Good morning, this is the English part.", OK, None, "en"),
        ("Buenos días, esta es la parte en español.", OK, None, "es"),
        ("Ha-ha-ma-ya-mi-ya-fi-ya-mi-ya", SUSPECT, "the decoder looped (compression ratio 8.9)", None),
    ]
    transcript = to_table(
        TRANSCRIPT_SEGMENTS,
        [
            {
                **status_row(TRANSCRIPT_SEGMENTS, status, error),
                "segment_index": i,
                "start_s": 5.0 * i,
                "end_s": 5.0 * i + 4,
                "text": text,
                "language": language,
                "model": "base",
            }
            for i, (text, status, error, language) in enumerate(rows)
        ],
    )
    document = build_document(video, audio, transcript, frames, ocr)
    assert document["transcript_text"] == f"{rows[0][0]} {rows[1][0]}"
    assert document["language"] == "en"
    assert document["transcript_left_out"] == (
        "1 of 3 transcript segment(s) left out as suspect: the decoder looped (compression ratio 8.9)"
    )
    assert build_document(*_inputs(OK))["transcript_left_out"] is None
