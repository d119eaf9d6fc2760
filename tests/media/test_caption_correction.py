"""Caption-informed correction after decoding: misheard names take the captions' spelling, nothing else moves."""

from wandr_pipeline.media.caption_correction import caption_terms, correct_transcript


def test_misheard_names_take_the_caption_spelling():
    text, fixes = correct_transcript("Good morning from Coyodo. This temple is famous.", ["KYOTO", "ENTRY FREE"])
    assert text == "Good morning from Kyoto. This temple is famous." and fixes == [("Coyodo", "Kyoto")]
    text, _ = correct_transcript("We walked through Chapel Tepek park.", ["CHAPULTEPEC"])
    assert text == "We walked through Chapultepec park."
    text, _ = correct_transcript("the fascinating town of centra and", ["SINTRA", "LORD BYRON"])
    assert text == "the fascinating town of Sintra and"


def test_everyday_words_and_words_heard_right_are_left_alone():
    speech = "We are in Mexico City, looking for the best treat tacos. Follow us for part two."
    assert correct_transcript(speech, ["STREET TACOS", "TACOS AL PASTOR", "PART 2"]) == (speech, [])
    # subtitle-style captions of the same words change nothing (no punctuation copied either)
    speech = "The hospital has followed protocol for infection control"
    captions = ["The hospital has, followed protocol for, infection control,"]
    assert correct_transcript(speech, captions) == (speech, [])


def test_caption_terms_skip_numbers_and_short_words():
    assert caption_terms(["OPEN 8AM - 11PM", "2 EUROS EACH"]) == ["EUROS EACH", "EUROS"]
