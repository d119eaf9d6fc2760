"""The trust verdict on decoder signals recorded from real runs (benchmarks/speech_trust.py --dump).

Garbage (loops, music written over, Arabic heard as Thai) is not trusted; clean speech is, and a clip
that changes language keeps its good parts while its doubtful ones are left out."""

from dataclasses import replace

from wandr_pipeline.media.speech_quality import (
    GOOD,
    LANGUAGE_UNSURE,
    LOW_CONFIDENCE,
    NO_SPEECH_HEARD,
    REPEATED,
    LanguageEvidence,
    SegmentEvidence,
    assess,
    loops,
    standing_parts,
)


def segment(text, probabilities, ratio=1.1, logprob=-0.2, no_speech=0.05, language=None, duration=5.0):
    return SegmentEvidence(text, probabilities, ratio, logprob, no_speech, language, duration)


def heard(language, probability, clip="en", clip_probability=0.99, decoded=None):
    decoded = decoded or (language if probability >= 0.5 else clip)
    return LanguageEvidence(language, probability, decoded, clip, clip_probability)


def test_confident_english_is_trusted():
    verdict = assess([segment("The child almost hurt the small dog.", [0.99, 0.95, 0.97, 0.9, 0.98, 0.96, 0.93])])
    assert verdict.trusted and verdict.reason is None and verdict.segment_quality == [GOOD]
    assert verdict.left_out == 0


def test_invented_english_for_portuguese_speech_is_flagged_with_a_reason():
    thanks = [0.6, 0.3, 0.4, 0.5]
    verdict = assess(
        [segment("Thank you very much.", thanks), segment("Thank you very much.", thanks)], model_language="en"
    )
    assert not verdict.trusted
    assert "not in en" in verdict.reason and "repeat" in verdict.reason
    assert verdict.segment_quality == [NO_SPEECH_HEARD, REPEATED]  # a stock phrase the model was unsure of
    assert verdict.left_out == 2


def test_a_clip_unsure_on_average_but_with_few_unsure_words_is_trusted():
    # synthetic English TTS: mean 0.68, but only 2 of 10 words below 0.5
    assert assess(
        [segment("welcome to lisbon this little bakery sells the best custard tarts", [0.75] * 8 + [0.3] * 2)]
    ).trusted


def test_loops_are_recognised_in_every_form_whisper_writes_them():
    assert loops("S.S.A.P.A.T.E.N.E.R.E.N.E.N.E.R.E.R")
    assert loops("ศาศาศาศาศาศาศาศา")
    assert loops("Sama hai hai hai hai")
    assert loops("Ha-ha-ma-ya-mi-ya-fi-ya-mi-ya-fi-ya-mi-ya-mi-ya-mi-ya-mi-ya-mi-ya")
    assert not loops("However, due to the slow communication channels, styles in the West could lag behind.")
    assert not loops("I am a U.S. citizen")
    assert assess([segment("la la la la la la la la la", [0.9] * 9, ratio=3.2)]).segment_quality == [REPEATED]
    assert assess([segment("Okay.", [0.3])]).trusted  # too few words to judge by their probabilities
    assert assess([segment("Okay.", [0.3], logprob=-1.3)]).segment_quality == [LOW_CONFIDENCE]


def test_arabic_heard_as_thai_below_the_floor_is_suspect_and_says_why():
    # base on espeak-ng Arabic: clip detected as en at 0.45, chunks as en 0.37 / th 0.21 / la 0.30
    verdict = assess(
        [
            segment(
                "Baba Kampi Assul. Ha ha matami.",
                [0.44] * 8,
                logprob=-1.06,
                no_speech=0.54,
                language=heard("en", 0.37, clip_probability=0.45),
            ),
            segment(
                "Baba Khamphi Asul. Ha-ha-ma-trami",
                [0.54] * 6,
                logprob=-0.83,
                language=heard("th", 0.21, clip_probability=0.45),
            ),
            segment(
                "I see you in the valley.",
                [0.4] * 6,
                logprob=-0.95,
                no_speech=0.07,
                language=heard("la", 0.30, clip_probability=0.45),
            ),
        ]
    )
    assert not verdict.trusted and verdict.left_out == 3
    assert LANGUAGE_UNSURE in verdict.segment_quality


def test_a_low_chunk_guess_that_agrees_with_a_sure_clip_language_is_no_doubt():
    # the Spanish part's last chunk: es at 0.31, the clip es at 0.97
    verdict = assess(
        [
            segment(
                "dado que eso puede afectar sus planes de viaje.",
                [0.77] * 9,
                logprob=-0.3,
                language=heard("es", 0.31, clip="es", clip_probability=0.97),
            )
        ]
    )
    assert verdict.trusted and verdict.segment_quality == [GOOD]


def test_a_clip_that_changes_language_keeps_its_good_parts_and_leaves_out_the_doubtful():
    # base on FLEURS English + FLEURS Spanish + espeak-ng German and Arabic (signals as recorded)
    verdict = assess(
        [
            segment(
                "However, due to the slow communication channels, styles",
                [0.77] * 15,
                logprob=-0.08,
                language=heard("en", 0.99, clip="es", clip_probability=0.97),
                duration=8.0,
            ),
            segment(
                "Se recomienda enfaticamente a los viajeros que se informen",
                [0.92] * 15,
                logprob=-0.11,
                language=heard("es", 0.996, clip="es", clip_probability=0.97),
                duration=7.6,
            ),
            segment(
                "dado que eso puede afectar sus planes de viaje.",
                [0.77] * 9,
                logprob=-0.3,
                language=heard("es", 0.31, clip="es", clip_probability=0.97),
                duration=2.5,
            ),
            segment("GOTEN TALK คุณตัว ความนินแมลิ่น", [0.45] * 4, logprob=-1.02, no_speech=0.2, duration=2.5),
            segment(
                "Dieses Museum ist jeden Tag geöffnet. Baba Kampi Assoul.",
                [0.17] * 12,
                logprob=-0.44,
                language=heard("de", 0.59, clip="es", clip_probability=0.97),
                duration=7.8,
            ),
            segment(
                "Ha-ha-ma-ya-mi-ya-fi-ya-mi-ya-fi-ya-si-mi-ya-mi-ya-si-mi-ya-mi-ya",
                [0.91] * 60,
                ratio=8.87,
                logprob=-0.15,
                no_speech=0.12,
                language=heard("la", 0.22, clip="es", clip_probability=0.97),
                duration=8.0,
            ),
        ]
    )
    assert verdict.trusted
    assert verdict.segment_quality == [GOOD, GOOD, GOOD, LOW_CONFIDENCE, LOW_CONFIDENCE, REPEATED]
    assert verdict.left_out == 3 and verdict.reason.startswith("3 of 6 segment(s) not trusted")


def probabilities(count, average, unsure_share, unsure=0.3):
    """`count` word probabilities averaging `average`, `unsure_share` of them at `unsure` (below 0.5)."""
    low = round(count * unsure_share)
    high = (average * count - unsure * low) / (count - low) if count > low else unsure
    return [unsure] * low + [high] * (count - low)


def mixed_en_es_de_ar():
    """base with the encoder's 7 s margin on FLEURS English + FLEURS Spanish + espeak-ng German and Arabic
    (benchmarks/speech_trust.py --dump): the clip's words are unsure throughout (0.64, 38 % below 0.5)."""
    return [
        segment(
            "However, due to the slow communication channels, styles in the West could lag behind by 25",
            probabilities(19, 0.74, 0.26),
            ratio=1.07,
            logprob=-0.10,
            language=heard("en", 0.99, clip="es", clip_probability=0.97),
            duration=8.0,
        ),
        segment(
            "Se recomienda enfaticamente a los viajeros que se informen sobre cualquier rijo del clima",
            probabilities(20, 0.93, 0.0),
            ratio=1.19,
            logprob=-0.11,
            language=heard("es", 0.998, clip="es", clip_probability=0.97),
            duration=7.6,
        ),
        segment(
            "dado que eso puede afectar sus planes de viaje.",
            probabilities(9, 0.74, 0.22),
            ratio=0.87,
            logprob=-0.39,
            language=heard("es", 0.22, clip="es", clip_probability=0.97),
            duration=2.5,
        ),
        # the German greeting heard as Thai over the floor, decoded in Thai: two "words", too few to judge
        segment(
            "กูฉันตาก คุณตัวิลคลอมนินแมลิน",
            [0.28, 0.28],
            ratio=1.23,
            logprob=-0.90,
            no_speech=0.2,
            language=heard("th", 0.56, clip="es", clip_probability=0.97),
            duration=2.7,
        ),
        segment(
            "Dieses Museum ist jeden Tag geöffnet, der Eintritt kostet 10 Euro. Baba Kampi Assul.",
            probabilities(14, 0.18, 0.93, unsure=0.15),
            ratio=0.98,
            logprob=-0.45,
            language=heard("de", 0.53, clip="es", clip_probability=0.97),
            duration=7.7,
        ),
        segment(
            "Ha-ha-ma-ya-mi-ya-f-ya-hu-ya-ti-ya-ma-di-ya-si-mi-tali.",
            probabilities(18, 0.55, 0.5),
            ratio=1.22,
            logprob=-0.78,
            no_speech=0.14,
            language=heard("la", 0.29, clip="es", clip_probability=0.97),
            duration=6.5,
        ),
    ]


def test_a_doubted_clip_that_changes_language_keeps_its_parts_in_a_sure_language():
    signals = mixed_en_es_de_ar()
    words = [p for s in signals for p in s.word_probabilities]
    assert round(sum(words) / len(words), 2) == 0.64  # what made the whole clip suspect before
    verdict = assess(signals)
    assert verdict.trusted
    assert verdict.segment_quality == [GOOD, GOOD, GOOD, LOW_CONFIDENCE, LOW_CONFIDENCE, LANGUAGE_UNSURE]
    assert verdict.reason.startswith("kept only its speech in en, es (the rest: the model was unsure of its words")
    thai, german, arabic = verdict.segment_reasons[3:]
    assert thai.startswith("outside the clip's speech in en, es (decoded as th, heard at 0.56): the model was")
    assert german == "mean word probability 0.18 < 0.55 (decoded as de, heard at 0.53)"
    assert arabic == "language unsure: sounded most like la (0.29), decoded as es"


def test_a_second_layout_of_the_mixed_clip_keeps_its_spanish_and_english():
    # base, margin 7, on FLEURS Spanish + espeak-ng Arabic + FLEURS English + espeak-ng German
    es = {"clip": "es", "clip_probability": 0.99}
    signals = [
        segment(
            "El uso de cuadro de los blocks pueden poderar a los alumnos",
            probabilities(19, 0.87, 0.11),
            language=heard("es", 0.999, **es),
            duration=5.7,
        ),
        segment(
            "A través de la respuesta activa a los contenidos de Internet",
            probabilities(28, 0.9, 0.07),
            language=heard("es", 0.998, **es),
            duration=9.3,
        ),
        segment("Sobre temas específicos.", [0.86] * 3, logprob=-0.5, language=heard("es", 0.99, **es), duration=1.4),
        segment("Horaveg 2002", [0.9, 0.38], logprob=-1.01, language=heard("es", 0.87, **es), duration=1.3),
        segment("¡" * 60, [0.94], ratio=29.9, logprob=-0.08, language=heard("la", 0.30, **es), duration=0.8),
        segment(
            "Atalcará irá a matar, enchantar a un facat. En chúl de gón, vos te van, oh.",
            probabilities(16, 0.38, 0.81),
            logprob=-1.07,
            no_speech=0.15,
            language=heard("mn", 0.23, **es),
            duration=12.8,
        ),
        segment(
            "The cabbage juice changes color depending on how acidic basic alkaline",
            probabilities(11, 0.67, 0.36),
            logprob=-0.24,
            language=heard("en", 0.99, **es),
            duration=4.3,
        ),
        segment(
            "Michael is.",
            [0.18, 0.18],
            logprob=-0.65,
            no_speech=0.23,
            language=heard("en", 0.97, **es),
            duration=0.4,
        ),
        segment(
            "Die Fahrkatter zum Flughafen kostet bei Oiro 50.",
            probabilities(8, 0.27, 0.75, unsure=0.1),
            logprob=-0.3,
            language=heard("de", 0.65, **es),
            duration=3.8,
        ),
    ]
    verdict = assess(signals)
    assert verdict.trusted
    kept = [q == GOOD for q in verdict.segment_quality]
    assert kept == [True, True, True, False, False, False, True, True, False]
    # its words sit just inside the clip-wide rule (mean 0.69, 33 % below 0.5); were it doubted, both
    # real parts would still stand
    assert standing_parts(signals, verdict.segment_quality) == ["es", "en"]
    assert verdict.segment_reasons[8] == "mean word probability 0.27 < 0.55 (decoded as de, heard at 0.65)"


def test_a_doubted_clip_keeps_no_part_heard_unsure_too_small_or_mostly_garbage():
    signals = mixed_en_es_de_ar()
    # the English sentence's language heard over the floor but not surely: only the Spanish stays
    unsure_english = assess([replace(signals[0], language=heard("en", 0.7, clip="es")), *signals[1:]])
    assert unsure_english.trusted and unsure_english.segment_quality[:3] == [LOW_CONFIDENCE, GOOD, GOOD]
    assert unsure_english.segment_reasons[0].startswith(
        "outside the clip's speech in es (decoded as en, heard at 0.70)"
    )
    # an English part that is mostly a loop does not stand either
    looping = segment("la " * 30, [0.3] * 30, ratio=4.0, language=heard("en", 0.99, clip="es"), duration=20.0)
    assert assess([*signals, looping]).segment_quality[0] == LOW_CONFIDENCE
    # a few confident words in another language inside garbage (Arabic heard as Latin, "Asim Mstali", made
    # trusted here) do not stand alone: the clip stays suspect as a whole
    arabic = [
        segment(
            "Baba Kampi Asul. Ha-ha-ma-tami-" + "bha-" * 15,
            probabilities(38, 0.71, 0.25),
            ratio=2.76,
            logprob=-0.5,
            no_speech=0.69,
            language=heard("en", 0.54, clip_probability=0.45),
            duration=7.3,
        ),
        segment(
            "Asim Mstali", [0.9, 0.8], logprob=-0.6, language=heard("la", 0.57, clip_probability=0.45), duration=1.6
        ),
        segment(
            "Baba Khamphi Asul. Ha-ha-ma-trami-bha-trami-bha-trami-bha-trami",
            probabilities(13, 0.53, 0.5),
            logprob=-0.84,
            no_speech=0.51,
            language=heard("en", 0.27, clip_probability=0.45),
            duration=8.0,
        ),
    ]
    verdict = assess(arabic)
    assert verdict.segment_quality[1] == GOOD and not verdict.trusted and verdict.left_out == 3
    # a clip in one language is judged as a whole, as before
    assert not assess([replace(s, language=None) for s in signals]).trusted


def test_a_clip_whose_speech_is_mostly_garbage_is_not_trusted_at_all():
    # tiny.en on espeak-ng Arabic: two loops, then a stock closing line
    verdict = assess(
        [
            segment(
                "Baa baa kambhi, a soul. Haa baa baa baa baa baa baa",
                [0.88] * 40,
                ratio=11.84,
                logprob=-0.18,
                no_speech=0.62,
                duration=10.2,
            ),
            segment(
                "Baa Baa can feed a soul Baa Baa Baa Baa Baa Baa", [0.56] * 14, ratio=1.65, logprob=-0.9, duration=6.2
            ),
            segment("I'll see you next time.", [0.64] * 5, ratio=0.75, logprob=-0.7, no_speech=0.31, duration=1.7),
        ]
    )
    assert not verdict.trusted and "most of the speech was not trusted" in verdict.reason


def test_stock_phrases_over_music_are_no_speech_and_the_clip_is_empty():
    # tiny.en on sung vowels over music, no VAD: "Thank you very much." (log-prob -1.01, no-speech 0.39)
    verdict = assess([segment("Thank you very much.", [0.6, 0.4, 0.5, 0.65], logprob=-1.01, no_speech=0.39)])
    assert verdict.empty and not verdict.trusted
    assert verdict.segment_quality == [NO_SPEECH_HEARD] and "no-speech probability 0.39" in verdict.reason
    # the case: "Thank you." at no-speech 0.91
    assert assess([segment("Thank you.", [0.7, 0.8], logprob=-0.5, no_speech=0.91)]).empty
    assert assess([segment("Thank you very much. Thank you very much.", [0.66] * 8, logprob=-0.8)]).empty
    # a person's clear thanks stays speech
    clear = assess([segment("Thank you very much.", [0.95, 0.97, 0.96, 0.98], logprob=-0.15, no_speech=0.02)])
    assert clear.trusted and not clear.empty


def test_music_between_speech_is_left_out_without_making_the_speech_suspect():
    verdict = assess(
        [
            segment("Welcome to Lisbon, this bakery sells the best custard tarts.", [0.9] * 10, duration=4.0),
            segment("Thank you.", [0.5, 0.5], logprob=-0.9, no_speech=0.8, duration=6.0),
        ]
    )
    assert verdict.trusted and not verdict.empty
    assert verdict.segment_quality == [GOOD, NO_SPEECH_HEARD]


def test_a_reason_never_reads_as_its_own_threshold():
    # "to the north and within easy" at 0.549 (base, a mixed clip): "0.55 < 0.55" read as a bug
    verdict = assess([segment("to the north and within easy", [0.549] * 6), segment("Reach is", [0.9] * 2)])
    assert verdict.segment_reasons[0] == "mean word probability 0.549 < 0.55"
    assert assess([segment("Horaveg 2002", [0.9, 0.38], logprob=-1.004)]).reason.endswith(
        "low average log-probability -1.004 < -1.0"
    )
    assert assess([segment("Horaveg 2002", [0.9, 0.38], logprob=-1.01)]).reason.endswith("-1.01 < -1.0")
