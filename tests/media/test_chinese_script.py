"""Chinese transcripts come out in the script asked for; other languages are never touched."""

import pytest

from wandr_pipeline.media.chinese_script import check_script, in_script

TRADITIONAL = "廣州市房地產中介協會分析"  # what the multilingual base writes for AISHELL's mainland clip
SIMPLIFIED = "广州市房地产中介协会分析"  # its reference


def test_simplified_and_traditional_both_ways():
    assert in_script(TRADITIONAL, "zh", "simplified") == SIMPLIFIED
    assert in_script(SIMPLIFIED, "zh", "traditional") == TRADITIONAL
    assert in_script(SIMPLIFIED, "zh", "simplified") == SIMPLIFIED
    assert in_script(TRADITIONAL, "zh", "as-is") == TRADITIONAL


def test_other_languages_unchanged():
    # Japanese kanji must not be "simplified" (発 stays, 體 in a Japanese name stays)
    assert in_script("東京の國體", "ja", "simplified") == "東京の國體"
    assert in_script("Sé lo que quieres", "es", "traditional") == "Sé lo que quieres"


def test_unknown_script_refused():
    assert check_script(" Traditional ") == "traditional"
    with pytest.raises(ValueError, match="simplified, traditional, as-is"):
        check_script("pinyin")
