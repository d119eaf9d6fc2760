"""The trust verdict on decoder signals recorded from real runs (benchmarks/speech_trust.py --dump).

Garbage (loops, music written over, Arabic heard as Thai) is not trusted; clean speech is, and a clip
that changes language keeps its good parts while its doubtful ones are left out."""

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
