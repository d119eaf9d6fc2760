import pytest

from wandr_pipeline.lib.urls import InvalidVideoUrl, is_valid_key, normalise_url, parse_video_url

TIKTOK_ID = "7301234567890123456"


@pytest.mark.parametrize(
    "url",
    [
        f"https://www.tiktok.com/@travel.girl/video/{TIKTOK_ID}",
        f"https://tiktok.com/@travel.girl/video/{TIKTOK_ID}/",
        f"https://m.tiktok.com/@travel.girl/video/{TIKTOK_ID}?is_from_webapp=1&sender_device=pc",
        f"http://WWW.TIKTOK.COM/@travel.girl/video/{TIKTOK_ID}?_r=1&_t=ZM-8abc#comments",
        f"https://m.tiktok.com/v/{TIKTOK_ID}.html",
        f"https://www.tiktok.com/embed/v2/{TIKTOK_ID}",
        f"https://www.tiktok.com/@someone.else/photo/{TIKTOK_ID}",
    ],
)
def test_tiktok_spellings_share_one_key(url):
    ref = parse_video_url(url)
    assert ref.video_key == f"tiktok-{TIKTOK_ID}"
    assert ref.platform == "tiktok"
    assert "?" not in ref.download_url


@pytest.mark.parametrize(
    "url",
    [
        "https://www.instagram.com/reel/C1aBcD_e-F2/",
        "https://instagram.com/reel/C1aBcD_e-F2",
        "https://www.instagram.com/reels/C1aBcD_e-F2/?igsh=MTc4MmM1YmI2Ng==",
        "https://m.instagram.com/p/C1aBcD_e-F2/?utm_source=ig_web_copy_link",
        "https://www.instagram.com/some.user/reel/C1aBcD_e-F2/",
        "https://instagr.am/p/C1aBcD_e-F2/",
    ],
)
def test_instagram_spellings_share_one_key(url):
    ref = parse_video_url(url)
    assert ref.video_key == "instagram-C1aBcD_e-F2"
    assert ref.platform == "instagram"


def test_instagram_shortcodes_are_case_sensitive():
    assert (
        parse_video_url("https://www.instagram.com/reel/AbCdEf/").video_key
        != parse_video_url("https://www.instagram.com/reel/abcdef/").video_key
    )


def test_short_links_hash_after_normalisation():
    a = parse_video_url("https://vm.tiktok.com/ZMabc123/")
    b = parse_video_url("https://vm.tiktok.com/ZMabc123?utm_source=copy")
    c = parse_video_url("https://vt.tiktok.com/ZMabc123/")
    assert a.video_key == b.video_key != c.video_key
    assert a.video_key.startswith("url-") and len(a.video_key) == 4 + 16
    assert a.platform == "tiktok"


def test_other_urls_keep_meaningful_query_and_host_port():
    a = parse_video_url("http://127.0.0.1:8000/clip.mp4?v=1&utm_medium=x")
    b = parse_video_url("http://127.0.0.1:8000/clip.mp4?v=2")
    assert a.video_key != b.video_key
    assert a.download_url == "http://127.0.0.1:8000/clip.mp4?v=1&utm_medium=x"
    assert normalise_url("HTTP://Example.com:80/a//b/?b=2&a=1#x") == "https://example.com/a/b?a=1&b=2"


def test_local_paths_resolve_against_base_dir(tmp_path):
    clip = tmp_path / "clips" / "a.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"x")
    relative = parse_video_url("clips/a.mp4", base_dir=tmp_path)
    absolute = parse_video_url(str(clip))
    uri = parse_video_url(clip.as_uri())
    assert relative.video_key == absolute.video_key == uri.video_key
    assert relative.platform == "file" and relative.download_url == clip.resolve().as_uri()


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("javascript:alert(1)", "unsupported scheme"),
        ("ftp://example.com/a.mp4", "unsupported scheme"),
        ("not a url", "whitespace"),
        ("hello", "no such local file"),
        ("https:///nohost", "no host"),
        ("gs://bucket-only", "bucket and an object"),
    ],
)
def test_invalid_inputs_have_reasons(text, reason):
    with pytest.raises(InvalidVideoUrl, match=reason):
        parse_video_url(text)


def test_keys_are_path_and_partition_safe():
    for url in ["https://example.com/a/b,c|d[e]", "gs://bucket/a/../b.mp4"]:
        key = parse_video_url(url).video_key
        assert is_valid_key(key)
    assert not is_valid_key("../etc")
    assert not is_valid_key("a/b")
    assert not is_valid_key("a,b")
