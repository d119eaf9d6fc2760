"""The benchmarks' scoring for Spanish and Portuguese reads numbers and "a.C." in their spoken form on both
sides (FLEURS writes "20" and "a.c." where Whisper writes "vinte" and "antes de Cristo"), and leaves what
was really misheard an error."""

from benchmarks.real_media import error_rate, normalise


def test_numbers_and_abbreviations_are_compared_as_spoken():
    assert normalise("Oravec, 2002.", "es") == "oravec dos mil dos"
    assert normalise("no século 3 a.C. A grande", "pt") == "no século três antes de cristo a grande"
    reference = "ele estava na casa dos 20 anos no século 3 a.c."
    assert error_rate(reference, "Ele estava na casa dos vinte anos, no século 3 antes de Cristo.", "pt") == 0.0
    # a real mishearing stays an error, and a word like "vinte" is no number to convert
    assert error_rate("honrar faraós mortos", "fomrar faraós mortos", "pt") == 1 / 3
    assert normalise("Ciudad de México", "es") == "ciudad de méxico"


def test_other_languages_keep_whisper_s_normalisers():
    assert normalise("广州市房地产中介协会分析。", "zh").strip() == "广州市房地产中介协会分析"
    assert normalise("It cost 20 dollars.", "en") == "it cost $20"
