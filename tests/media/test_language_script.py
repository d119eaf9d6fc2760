"""Which script a caption line is in and which one a spoken language is written in (hint gating)."""

import pytest

from wandr_pipeline.media.language_script import hints_for_language, language_script, readable_in, text_script


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("Pastéis de Belém!", "Latin"),
        ("ＴＯＫＹＯ", "Latin"),
        ("广州市房地产", "Han"),
        ("ありがとう", "Japanese"),
        ("서울 맛집", "Hangul"),
        ("Москва 2024", "Cyrillic"),
        ("Αθήνα", "Greek"),
        ("مرحبا", "Arabic"),
        ("12:30 - 8.50", None),
        ("Taipei 101 台北", "Latin"),  # most letters decide
    ],
)
def test_text_script(text, script):
    assert text_script(text) == script


def test_language_script_defaults_to_latin():
    assert language_script("es") == language_script("pt") == language_script("en") == "Latin"
    assert language_script("zh") == "Han" and language_script("ko") == "Hangul"
    assert language_script("ru") == "Cyrillic" and language_script(None) == "Latin"


def test_japanese_reads_kanji_and_kana_chinese_reads_no_kana():
    assert readable_in("東京タワー", "ja") and readable_in("東京", "ja")
    assert readable_in("東京", "zh") and not readable_in("ありがとう", "zh")
    assert not readable_in("Tokyo Tower", "ja")


def test_hints_for_language_keeps_the_lines_of_its_script_in_order():
    hints = "Pastéis de Belém, 广州市, Москва, Open 8AM - 11PM, 12:30"
    assert hints_for_language(hints, "pt") == "Pastéis de Belém, Open 8AM - 11PM"
    assert hints_for_language(hints, "zh") == "广州市"
    assert hints_for_language(hints, "ru") == "Москва"
    assert hints_for_language(hints, "ko") == ""
