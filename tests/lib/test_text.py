from wandr_pipeline.lib.text import sanitize_text


def test_sanitize_text_makes_internet_text_storable():
    assert sanitize_text("caf\udce9\x00 tour\x07\tok\n") == "caf\ufffd tour\tok"  # surrogate, NUL, BEL
    assert sanitize_text("Bele\u0301m") == "Belém"  # NFC: one code point for é
    assert sanitize_text(42) == "42"
    assert sanitize_text(None) is None and sanitize_text(" \x00 ") is None
