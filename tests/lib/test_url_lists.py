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
