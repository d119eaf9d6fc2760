"""Caption spans from per-frame OCR reads, the clean text, subtitles and Whisper hints, on crafted inputs."""

from __future__ import annotations

import pytest

from wandr_pipeline.media.captions import (
    CaptionRules,
    LineRead,
    best_spelling,
    build_spans,
    echoes_hints,
    fold,
    hint_text,
    join_line_fragments,
    reads_from_rows,
    text_similarity,
)
from wandr_pipeline.media.document_text import TimedText, merge_speech_and_captions, split_glued_words, vocabulary
from wandr_pipeline.media.subtitles import Cue, caption_cues, split_text, to_srt, to_vtt, transcript_cues

MIDDLE = (0.2, 0.45, 0.8, 0.5)
TOP = (0.1, 0.1, 0.9, 0.15)
BOTTOM = (0.2, 0.8, 0.8, 0.85)


def frames(n: int, step: float = 1.0) -> list[tuple[int, float]]:
    return [(i * 30, i * step) for i in range(n)]


def read(i: int, text: str, box=MIDDLE, confidence: float = 0.95, step: float = 1.0) -> LineRead:
    return LineRead(i * 30, i * step, text, confidence, *box)


def test_fold_ignores_case_accents_spaces_and_punctuation():
    assert fold("Pastéis de Belém!") == fold("PASTEIS DEBELEM") == "pasteisdebelem"


def test_ocr_variants_of_one_caption_become_one_span_with_the_best_spelling():
    reads = [
        read(1, "PASTÉIS DE BELÉM"),
        read(2, "PASTEIS DE BELEM", confidence=0.9),
        read(3, "PASTÉIS DE BELÉM"),
        read(4, "PASTÉIS DE BELEM", confidence=0.8),
        read(5, "PASTÉIS DE BELÉM"),
    ]
    spans = build_spans(frames(8), reads)
    assert len(spans) == 1
    span = spans[0]
    assert span.text == "PASTÉIS DE BELÉM"
    assert (span.first_seen_s, span.last_seen_s, span.frames_seen) == (1.0, 5.0, 5)
    # on screen from between the 0 s and 1 s samples to between the 5 s and 6 s samples
    assert (span.start_s, span.end_s) == (0.5, 5.5)
    assert set(span.variants) == {"PASTEIS DE BELEM", "PASTÉIS DE BELEM"}
    assert span.y0 == pytest.approx(0.45) and span.confidence == pytest.approx(0.91)


def test_a_partial_read_joins_the_span():
    reads = [read(1, "MOSTEIRO DOS JERONIMOS"), read(2, "MOSTEIRO DOS JERON"), read(3, "MOSTEIRO DOS JERONIMOS")]
    spans = build_spans(frames(5), reads)
    assert [s.text for s in spans] == ["MOSTEIRO DOS JERONIMOS"] and spans[0].frames_seen == 3


def test_same_text_in_different_regions_stays_apart():
    reads = [read(i, "LISBON", TOP) for i in range(1, 5)] + [read(i, "LISBON", BOTTOM) for i in range(3, 7)]
    spans = build_spans(frames(8), reads)
    assert [(s.text, s.first_seen_s, s.last_seen_s) for s in spans] == [("LISBON", 1.0, 4.0), ("LISBON", 3.0, 6.0)]
    assert spans[0].y0 < 0.2 < 0.7 < spans[1].y0


def test_different_text_in_one_place_makes_consecutive_spans():
    reads = [read(i, "1. CACIO E PEPE") for i in range(0, 4)] + [read(i, "2. SUPPLI") for i in range(4, 7)]
    spans = build_spans(frames(7), reads, duration_s=6.8)
    assert [(s.text, s.start_s, s.end_s) for s in spans] == [("1. CACIO E PEPE", 0.0, 3.5), ("2. SUPPLI", 3.5, 6.5)]


def test_low_confidence_and_one_character_noise_are_dropped():
    reads = [read(i, "FREE ENTRY") for i in range(1, 4)]
    reads += [read(2, "|", BOTTOM), read(3, "x", TOP), read(2, "wek alk", BOTTOM, confidence=0.55)]
    reads += [read(5, "blurry", TOP, confidence=0.62), read(6, "blurry", TOP, confidence=0.64)]  # span mean < 0.7
    spans = build_spans(frames(8), reads)
    assert [s.text for s in spans] == ["FREE ENTRY"]
    kept = build_spans(frames(8), reads, CaptionRules(min_span_confidence=0.6))
    assert [s.text for s in kept] == ["FREE ENTRY", "blurry"]


def test_a_missed_read_does_not_split_a_span_but_a_real_absence_does():
    one_gap = [read(i, "NYHAVN") for i in (1, 2, 4, 5)]
    assert len(build_spans(frames(7), one_gap)) == 1
    long_gap = [read(i, "NYHAVN") for i in (1, 2, 5, 6)]
    spans = build_spans(frames(8), long_gap)
    assert [(s.first_seen_s, s.last_seen_s) for s in spans] == [(1.0, 2.0), (5.0, 6.0)]
    assert len(build_spans(frames(8), long_gap, CaptionRules(max_gap_frames=2))) == 1


def test_frames_whose_ocr_failed_neither_end_nor_extend_a_span():
    # frame 3 failed: it is not in the frame list, so the caption read on 2 and 4 is one span
    times = [f for f in frames(6) if f[0] != 90]
    spans = build_spans(times, [read(i, "HARAJUKU") for i in (1, 2, 4)], CaptionRules(max_gap_frames=0))
    assert len(spans) == 1 and spans[0].frames_seen == 3


def test_glued_words_take_the_word_breaks_other_reads_saw():
    # the glued reading is the most frequent one, but a third of the reads saw each word break
    reads = [
        read(1, "BESTPASTELDENATA", confidence=0.93),
        read(2, "BEST PASTEL DENATA", confidence=0.9),
        read(3, "BESTPASTELDENATA", confidence=0.93),
        read(4, "BEST PASTEL DE NATA", confidence=0.8),
        read(5, "BEST PASTEL DE NATA", confidence=0.85),
    ]
    text, variants = best_spelling(reads)
    assert text == "BEST PASTEL DE NATA"
    assert "BESTPASTELDENATA" in variants
    assert build_spans(frames(7), reads)[0].text == "BEST PASTEL DE NATA"
    # a break only one read in ten saw is not trusted (OCR also splits words at wide letter gaps)
    assert best_spelling([read(i, "BELEM") for i in range(9)] + [read(9, "BEL EM")])[0] == "BELEM"


def test_boxes_of_one_line_cut_at_a_wide_space_are_joined_but_far_apart_ones_are_not():
    left = LineRead(30, 1.0, "MOSTEIRO", 0.99, 0.10, 0.40, 0.45, 0.45)
    right = LineRead(30, 1.0, "DOS JERONIMOS", 0.97, 0.49, 0.40, 0.90, 0.45)
    tag = LineRead(30, 1.0, "10:00", 0.99, 0.05, 0.90, 0.15, 0.94)
    price = LineRead(30, 1.0, "3 EUR", 0.99, 0.80, 0.90, 0.95, 0.94)
    lines = join_line_fragments([right, tag, left, price])
    assert sorted(line.text for line in lines) == ["10:00", "3 EUR", "MOSTEIRO DOS JERONIMOS"]
    # detector boxes that overlap a little (RapidOCR on 'CLOSED ON MONDAYS', 540x960 frame)
    closed = LineRead(30, 1.0, "CLOSED", 1.0, 0.115, 0.829, 0.417, 0.868)
    mondays = LineRead(30, 1.0, "ON MONDAYS", 0.99, 0.394, 0.828, 0.889, 0.870)
    assert [line.text for line in join_line_fragments([mondays, closed], aspect=540 / 960)] == ["CLOSED ON MONDAYS"]
    # gaps count in line heights: the same normalised gap is 0.45 heights on a portrait frame (joined)
    # and 1.4 on a landscape one (kept apart)
    assert len(join_line_fragments([left, right], aspect=16 / 9)) == 2
    far = LineRead(30, 1.0, "DOS", 0.97, 0.60, 0.40, 0.70, 0.45)
    assert len(join_line_fragments([left, far])) == 2


def test_text_similarity_scores():
    assert text_similarity("PASTEIS DE BELEM", "Pastéis de Belém") == 1.0
    assert text_similarity("PASTEIS DE BELEM", "PASTEIS DE BELFM") >= 0.8
    assert text_similarity("1. CACIO E PEPE", "2. SUPPLI") < 0.5
    assert text_similarity("", "x") == 0.0


def test_reads_from_rows_keeps_frames_without_text_and_skips_failed_ones():
    rows = [
        {"frame_index": 0, "timestamp_s": 0.0, "text": None, "status": "ok"},
        {
            "frame_index": 30,
            "timestamp_s": 1.0,
            "text": "FREE ENTRY",
            "confidence": 0.9,
            "box_x0": 0.1,
            "box_y0": 0.4,
            "box_x1": 0.9,
            "box_y1": 0.5,
            "status": "ok",
        },
        {"frame_index": 60, "timestamp_s": 2.0, "text": None, "status": "failed", "error": "engine down"},
    ]
    times, reads = reads_from_rows(rows)
    assert times == [(0, 0.0), (30, 1.0)] and [r.text for r in reads] == ["FREE ENTRY"]


def test_hint_text_keeps_distinct_named_lines_shaped_for_whisper():
    hints = hint_text(
        [
            "PASTÉIS DE BELÉM",
            "Pasteis de Belem",
            "1,40 €",
            "12:00",
            "Rua de Belém 84-92",
            "1. CACIO E PEPE",
            "2) SUPPLÌ",
            "OPEN 8AM - 11PM",
        ]
    )
    # capitals calmed (a prompt in capitals makes Whisper answer in capitals), list numbers and prices cut
    assert hints.split("\n") == ["Pastéis De Belém", "Rua de Belém 84-92", "Cacio E Pepe", "Supplì", "Open 8AM - 11PM"]
    assert len(hint_text([f"PLACE NUMBER {i}" for i in range(100)], max_chars=60)) <= 60


def test_a_transcript_that_only_repeats_the_hints_is_caught():
    hints = "3 Things To Eat In Rome, Cacio E Pepe, Trastevere, Supplì, Maritozzo, Roscioli Caffè"
    assert echoes_hints("3 THINGS TO EAT IN ROME, 1. CACIO E PEPE, Trastevere, 2. SUPPLì, 3. MARITOZZO,", hints)
    speech = (
        "3 things you have to eat in Rome. First, cacio e pepe in Trastevere. Second, suppli, fried rice balls "
        "with mozzarella. Third, a maritozzo for breakfast at Roscioli."
    )
    assert not echoes_hints(speech, hints)
    assert not echoes_hints("Rome.", hints)  # too short to tell


def test_split_glued_words_uses_the_videos_own_words():
    vocab = vocabulary(["the best pastel de nata in Lisbon", "Pastel de nata tour"])
    assert split_glued_words("BESTPASTELDENATA", vocab) == "BEST PASTEL DE NATA"
    assert split_glued_words("Best pastel denata!", vocab) == "Best pastel denata!"  # short tokens stay
    assert split_glued_words("BESTPASTELDENATA 2 EUR", vocabulary(["nothing related"])) == "BESTPASTELDENATA 2 EUR"
    # a word the video itself uses is never split, even if it could be
    assert split_glued_words("Lisbonbest", vocab | {"lisbonbest"}) == "Lisbonbest"


def test_clean_text_interleaves_speech_and_new_caption_text_in_time():
    speech = [
        TimedText(0.1, 4.0, "Welcome to Lisbon.", "speech"),
        TimedText(4.0, 9.0, "Entry is free and the view is great.", "speech"),
    ]
    captions = [
        TimedText(1.0, 4.0, "PASTÉIS DE BELÉM", "caption"),
        TimedText(5.0, 8.0, "FREE ENTRY", "caption"),
        TimedText(9.5, 12.0, "Pasteis de Belem", "caption"),
        TimedText(10.0, 12.0, "OPEN 8AM - 11PM!", "caption"),
    ]
    text = merge_speech_and_captions(speech, captions)
    assert text.split("\n") == [
        "Welcome to Lisbon.",
        "PASTÉIS DE BELÉM.",
        "Entry is free and the view is great.",
        "OPEN 8AM - 11PM!",
    ]


def test_srt_and_vtt_format():
    cues = [Cue(0.5, 4.25, "PASTEIS DE BELEM", 0.14), Cue(3661.0, 3662.5, "a < b & c", 0.8)]
    srt = to_srt(cues)
    assert srt.startswith("1\n00:00:00,500 --> 00:00:04,250\nPASTEIS DE BELEM\n\n2\n01:01:01,000 --> 01:01:02,500\n")
    vtt = to_vtt(cues)
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:04.250 line:14%\nPASTEIS DE BELEM\n")
    assert "a &lt; b &amp; c" in vtt
    assert to_srt([Cue(1.0, 1.0, "   ")]) == ""  # empty cues are dropped


def test_transcript_cues_split_long_segments_in_proportion():
    text = (
        "Welcome to Lisbon. This little bakery sells the best custard tarts in town. They cost two euros "
        "each, so come early, before the lines get long."
    )
    cues = transcript_cues([{"start_s": 0.0, "end_s": 12.0, "text": text}])
    assert len(cues) >= 2 and all(len(c.text) <= 84 for c in cues)
    assert cues[0].start_s == 0.0 and cues[-1].end_s == pytest.approx(12.0, abs=0.01)
    assert all(a.end_s == pytest.approx(b.start_s, abs=0.002) for a, b in zip(cues, cues[1:]))
    assert " ".join(c.text for c in cues) == text
    assert split_text("short one. another.") == ["short one. another."]


def test_caption_cues_carry_the_screen_position():
    cues = caption_cues([{"start_s": 1.0, "end_s": 2.0, "text": "NYHAVN", "box_y0": 0.2}])
    assert cues == [Cue(1.0, 2.0, "NYHAVN", 0.2)]


# -- every script (issue 14) -----------------------------------------------------------------------


def test_fold_keeps_letters_of_every_script_and_folds_only_accents():
    assert fold("Москва! Ёж") == "москваеж"
    assert fold("广州市 房地产。") == "广州市房地产"
    assert fold("한국어 텍스트") == "한국어텍스트"  # Hangul syllables survive the decomposition
    assert fold("学校で、レプリカが") == "学校でレプリカが"  # kana voicing marks are not accents
    assert fold("ＡＢＣ１２") == "abc12" and fold("Ça va?") == "cava"


@pytest.mark.parametrize(
    "text",
    ["【素敵な四季を探す旅】春分", "强力去污符合国标", "한국어 자막입니다", "Добро пожаловать", "del miércoles"],
)
def test_lines_in_any_script_become_caption_spans(text):
    reads = [read(i, text, confidence=0.98) for i in range(3)]
    spans = build_spans(frames(3), reads)
    assert [s.text for s in spans] == [text]
    assert hint_text([text]) == text


def test_ocr_variants_in_cjk_merge_and_different_cjk_lines_stay_apart():
    texts = ["正品促销", "正品促销", "正品促销。", "大桶装更划算", "大桶装更划算"]
    reads = [read(i, text) for i, text in enumerate(texts)]
    assert [s.text for s in build_spans(frames(5), reads)] == ["正品促销", "大桶装更划算"]


def test_onscreen_lines_in_other_scripts_are_kept_and_trademarks_stay():
    from wandr_pipeline.media.text import distinct_lines

    lines = ["广州市房地产", "Москва", "Москва!", "한국어", "ACME™ Coffee", "Café", "CAFE"]
    assert distinct_lines(lines) == ["广州市房地产", "Москва", "한국어", "ACME™ Coffee", "Café"]


def test_text_damage_from_ocr_and_transcripts_is_repaired():
    from wandr_pipeline.media.captions import tidy_line

    assert tidy_line("du PALAIS -ROYAL") == "du PALAIS-ROYAL"
    assert tidy_line("or alcohol -based hand rub") == "or alcohol-based hand rub"
    assert tidy_line("8AM - 11PM") == "8AM - 11PM"  # a spaced dash is a dash
    # a wrong transcript ("mi ercoles") must not cut a correct caption word
    vocab = vocabulary(["nos vemos el mi ercoles", "del miércoles"]) - {"miercoles"}
    assert split_glued_words("del miércoles", vocab) == "del miércoles"
    speech = [TimedText(0.0, 2.0, "Welcome.", "speech")]
    captions = [
        TimedText(2.5, 3.0, "Open daily,", "caption"),
        TimedText(3.0, 4.0, "欢迎光临", "caption"),
        TimedText(4.0, 5.0, "ACME™", "caption"),
    ]
    text = merge_speech_and_captions(speech, captions)
    assert text.split("\n") == ["Welcome.", "Open daily.", "欢迎光临。", "ACME™."]


def test_chinese_labels_side_by_side_stay_apart_but_a_cut_line_is_joined():
    height = 0.04
    left = LineRead(0, 0.0, "极速发货", 0.99, 0.10, 0.5, 0.30, 0.5 + height)
    right = LineRead(0, 0.0, "冰点标准", 0.99, 0.34, 0.5, 0.54, 0.5 + height)  # ~0.6 line heights apart
    assert [r.text for r in join_line_fragments([left, right])] == ["极速发货", "冰点标准"]
    close = LineRead(0, 0.0, "冰点标准", 0.99, 0.305, 0.5, 0.50, 0.5 + height)
    assert [r.text for r in join_line_fragments([left, close])] == ["极速发货冰点标准"]
