import codecs

import pytest

from wandr_pipeline.lib.ingestion import parse_list_bytes
from wandr_pipeline.lib.url_lists import parse_url_list


def read_list(path, *, allow_local_files=True):
    """A local list file, read the way the runner, sensor and schedule read one."""
    return parse_list_bytes(str(path), path.read_bytes(), allow_local_files=allow_local_files)


def test_comments_blank_lines_crlf_bom_and_duplicates():
    text = (
        "\ufeff# travel list\r\n"
        "\r\n"
        "https://www.tiktok.com/@a/video/7301234567890123456\r\n"
        "https://m.tiktok.com/@a/video/7301234567890123456?_r=1  # same video\r\n"
        "   https://www.instagram.com/reel/AbC123xyz/   \r\n"
        "javascript:alert(1)\r\n"
        "just words here\r\n"
    )
    parsed = parse_url_list(text)
    assert [ref.video_key for ref in parsed.accepted] == ["tiktok-7301234567890123456", "instagram-AbC123xyz"]
    assert parsed.duplicates == 1
    assert [(r.line_number, r.reason.split(" ")[0]) for r in parsed.rejected] == [(6, "unsupported"), (7, "contains")]


def test_local_files_can_be_refused(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text("a.mp4\n")
    assert len(read_list(listing).accepted) == 1
    refused = read_list(listing, allow_local_files=False)
    assert not refused.accepted and refused.rejected[0].reason == "local files are not allowed here"


def test_sample_list_resolves_every_clip():
    from tests.support.paths import REPO

    parsed = read_list(REPO / "data" / "url_lists" / "sample.txt")
    assert len(parsed.accepted) == 3 and not parsed.rejected
    assert all(ref.platform == "file" for ref in parsed.accepted)


# Lines that used to escape the parse as exceptions (urlsplit, .port, Path.resolve), each with the reason
# it must now be rejected with.
HOSTILE_LINES = {
    "a\x00b": "NUL byte",
    "x" * 300: "not a usable local path (File name too long)",
    "http://[::1/v.mp4": "unbalanced brackets",
    "http://host.example:99999/v.mp4": "invalid port",
    "http://host.example:0/v.mp4": "invalid port",
    "http://ex\uff0fample.com/v.mp4": "Unicode normalisation (NFKC)",
    "http://a\u2100b.com/v.mp4": "Unicode normalisation (NFKC)",
    "https://example.com/" + "a" * 5000: "over the 4096-character limit",
    "https://example.com/\x07bell": "control characters",
}


def test_every_hostile_line_is_a_rejected_line_and_the_rest_of_the_list_survives():
    good = "https://www.tiktok.com/@a/video/7301234567890123456"
    text = "\n".join([*HOSTILE_LINES, good]) + "\n"
    parsed = parse_url_list(text)
    assert [ref.video_key for ref in parsed.accepted] == ["tiktok-7301234567890123456"]
    assert [r.line_number for r in parsed.rejected] == list(range(1, len(HOSTILE_LINES) + 1))
    for rejected, expected in zip(parsed.rejected, HOSTILE_LINES.values(), strict=True):
        assert expected in rejected.reason, (rejected.text, rejected.reason)
        assert len(rejected.text) <= 300 and rejected.text.isprintable(), rejected.text


def test_an_unexpected_error_in_one_line_is_that_lines_reason(monkeypatch):
    import wandr_pipeline.lib.url_lists as url_lists

    real = url_lists.parse_video_url

    def explode_on_b(text, **kwargs):
        if "b.example" in text:
            raise RuntimeError("something nobody foresaw")
        return real(text, **kwargs)

    monkeypatch.setattr(url_lists, "parse_video_url", explode_on_b)
    parsed = parse_url_list("https://a.example/1.mp4\nhttps://b.example/2.mp4\nhttps://c.example/3.mp4\n")
    assert len(parsed.accepted) == 2
    assert parsed.rejected[0].line_number == 2 and "RuntimeError: something nobody foresaw" in parsed.rejected[0].reason


LIST = "# list\r\nhttps://www.tiktok.com/@a/video/7301234567890123456\r\nhttps://www.instagram.com/reel/AbC123xyz/\r\n"


@pytest.mark.parametrize(
    "encoded",
    [
        LIST.encode("utf-8"),
        LIST.encode("utf-8-sig"),
        LIST.encode("utf-16"),  # with a BOM: Windows Notepad's "Unicode"
        codecs.BOM_UTF16_BE + LIST.encode("utf-16-be"),
        LIST.encode("utf-16-le"),  # without a BOM
        LIST.encode("utf-16-be"),
        LIST.encode("utf-32"),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32-bom"],
)
def test_list_encodings_are_detected(encoded):
    parsed = parse_list_bytes("list.txt", encoded, allow_local_files=False)
    assert [ref.video_key for ref in parsed.accepted] == ["tiktok-7301234567890123456", "instagram-AbC123xyz"]
    assert not parsed.rejected


def test_undecodable_bytes_reject_their_line_only():
    data = b"https://a.example/1.mp4\n\xff\xfe\xfdjunk\nhttps://c.example/3.mp4\n"
    parsed = parse_list_bytes("list.txt", data, allow_local_files=False)
    assert len(parsed.accepted) == 2 and [r.line_number for r in parsed.rejected] == [2]
