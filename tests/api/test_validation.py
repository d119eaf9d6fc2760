"""URL and address checks of the HTTP API (pure functions; numeric hosts go through the real resolver)."""

from __future__ import annotations

import ipaddress
import re
import socket

import pytest

from wandr_pipeline.api.validation import (
    AllowList,
    ResolverUnavailable,
    UrlPolicy,
    UrlRejected,
    address_problem,
    check_url,
    resolve_host,
)

STRICT = UrlPolicy()


def fake_resolver(table: dict[str, list[str]]):
    def resolve(host: str) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "url, reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        (5, "must be a string"),
        (None, "must be a string"),
        ("not a url", "whitespace"),
        ("example.com/video.mp4", "not a URL"),
        ("file:///etc/passwd", "scheme 'file:'"),
        ("ftp://example.com/a.mp4", "scheme 'ftp:'"),
        ("gs://bucket/video.mp4", "scheme 'gs:'"),
        ("javascript:alert(1)", "not a URL"),
        ("http://", "no host"),
        ("http://:80/x", "no host"),
        ("http://user:pw@example.com/x", "user name or password"),
        ("http://example.com@127.0.0.1/x", "user name or password"),
        ("http://example.com:99999/x", "not a valid URL"),
        ("http://example.com:0/x", "port 0"),
        ("https://example.com/" + "a" * 3000, "longer than"),
        ("http://exa\x00mple.com/", "control characters"),
        ("https://example.com/\ud800.mp4", "not valid Unicode: a lone surrogate"),
        ("https://example.com/a\u202e4pm.exe", "U+202E RIGHT-TO-LEFT OVERRIDE at position 21"),
        ("https://example.com/\u2067a.mp4", "U+2067 RIGHT-TO-LEFT ISOLATE"),
        ("https://exa\u200dmple.com/a.mp4", "U+200D ZERO WIDTH JOINER"),
        ("https://example.com/\u2028a.mp4", "U+2028 LINE SEPARATOR"),
        ("https://example.com/\x85a.mp4", "U+0085 control character"),
        ("https://example.com/a\xa0b.mp4", "whitespace"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url, reason):
    with pytest.raises(UrlRejected, match=re.escape(reason)):
        check_url(url, STRICT, resolver=fake_resolver({}))


@pytest.mark.parametrize(
    "url, kind",
    [
        ("http://127.0.0.1:8080/x.mp4", "loopback"),
        ("http://127.9.9.9/x", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://10.1.2.3/x", "private"),
        ("http://172.16.0.1/x", "private"),
        ("http://192.168.1.10/x", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fe80::1]/x", "link-local"),
        ("http://[fd00::1]/x", "private"),
        ("http://[::ffff:10.0.0.1]/x", "private"),
        ("http://[::ffff:127.0.0.1]/x", "loopback"),
        ("http://0.0.0.0/x", "unspecified"),
        ("http://100.64.0.1/x", "non-public"),  # carrier-grade NAT
        ("http://224.0.0.1/x", "multicast"),
        # Spellings of 127.0.0.1 that getaddrinfo (and so yt-dlp) accept: resolved, then refused.
        ("http://2130706433/x", "loopback"),
        ("http://0x7f.1/x", "loopback"),
        ("http://127.1/x", "loopback"),
        ("http://0/x", "unspecified"),
        ("http://localhost:5000/x", "loopback"),
    ],
)
def test_non_public_addresses_are_refused(url, kind):
    with pytest.raises(UrlRejected, match=kind):
        check_url(url, STRICT)


def test_a_name_is_judged_by_every_address_it_resolves_to():
    resolver = fake_resolver(
        {
            "cdn.example.com": ["93.184.215.14"],
            "sneaky.example.com": ["93.184.215.14", "10.0.0.5"],
            "v6.example.com": ["2606:4700::6810:84e5"],
        }
    )
    assert check_url("https://cdn.example.com/v.mp4", STRICT, resolver).download_url == "https://cdn.example.com/v.mp4"
    assert check_url("https://v6.example.com/v.mp4", STRICT, resolver)
    with pytest.raises(UrlRejected, match=r"sneaky.example.com \(10.0.0.5\): a private address"):
        check_url("https://sneaky.example.com/v.mp4", STRICT, resolver)


def test_the_key_is_the_pipelines_key():
    resolver = fake_resolver({"www.tiktok.com": ["93.184.215.14"], "tiktok.com": ["93.184.215.14"]})
    a = check_url("https://www.tiktok.com/@someone/video/7301234567890123456?is_from_webapp=1", STRICT, resolver)
    b = check_url("https://tiktok.com/@someone/video/7301234567890123456/", STRICT, resolver)
    assert a.video_key == b.video_key == "tiktok-7301234567890123456"


def test_allow_list_lets_chosen_networks_and_hosts_through():
    policy = UrlPolicy(allow=AllowList.parse("127.0.0.1, 10.0.0.0/8 ; media.lan"))
    assert check_url("http://127.0.0.1:8000/clip.mp4", policy).video_key.startswith("url-")
    assert check_url("http://10.20.30.40/clip.mp4", policy)
    assert check_url("http://media.lan/clip.mp4", policy, resolver=fake_resolver({"media.lan": ["192.168.0.9"]}))
    with pytest.raises(UrlRejected, match="private"):
        check_url("http://192.168.0.9/clip.mp4", policy)
    with pytest.raises(UrlRejected, match="loopback"):
        check_url("http://127.0.0.2/clip.mp4", policy)  # 127.0.0.1 only, not all of 127/8
    with pytest.raises(UrlRejected, match="link-local"):
        check_url("http://169.254.169.254/", policy)


def test_allow_list_parsing():
    allow = AllowList.parse(" 127.0.0.1 ,::1, 10.0.0.0/8,Media.LAN. ,")
    assert allow.allows_address(ipaddress.ip_address("127.0.0.1"))
    assert allow.allows_address(ipaddress.ip_address("::1"))
    assert allow.allows_address(ipaddress.ip_address("10.9.9.9"))
    assert not allow.allows_address(ipaddress.ip_address("11.0.0.1"))
    assert allow.allows_host("media.lan")
    assert AllowList.parse("") == AllowList()
    with pytest.raises(ValueError, match="neither"):
        AllowList.parse("10.0.0.0/8, not a host!")


def test_unresolvable_names_follow_the_policy():
    nowhere = fake_resolver({})
    ref = check_url("https://tiktok.com/...", STRICT, nowhere)  # accepted: the download records the failure
    assert ref.platform == "tiktok"
    with pytest.raises(UrlRejected, match="does not resolve"):
        check_url("https://no-such-host.invalid/x", UrlPolicy(reject_unresolved=True), nowhere)

    def temporary(host):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    assert check_url("https://example.com/x", STRICT, temporary)
    with pytest.raises(ResolverUnavailable):
        check_url("https://example.com/x", UrlPolicy(reject_unresolved=True), temporary)


def test_resolve_host_handles_numeric_forms_without_dns():
    assert resolve_host("127.1") == ["127.0.0.1"]
    assert resolve_host("2130706433") == ["127.0.0.1"]


def test_public_addresses_pass():
    for text in ("93.184.215.14", "8.8.8.8", "2606:4700::6810:84e5"):
        assert address_problem(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize(
    "url, kind",
    [
        ("http://%31%32%37.0.0.1:8080/v.mp4", "loopback"),
        ("http://127.0.0.%31/v.mp4", "loopback"),
        ("http://%2531%2532%2537.0.0.1/v.mp4", "loopback"),  # encoded twice
        ("http://%6c%6f%63%61%6c%68%6f%73%74:5000/v.mp4", "loopback"),  # localhost
        ("http://LOCALHOST./v.mp4", "loopback"),
        ("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/v.mp4", "loopback"),  # fullwidth, NFKC
        ("http://127.0.0.1./v.mp4", "loopback"),
        ("http://0x7f.0.0.1./v.mp4", "loopback"),
    ],
)
def test_the_host_is_decoded_and_canonicalised_before_the_address_check(url, kind):
    with pytest.raises(UrlRejected, match=kind):
        check_url(url, STRICT)


def test_hosts_that_decode_to_no_host_name_are_refused():
    for url in ("http://exa%2Fmple.com/v.mp4", "http://exa%00mple.com/v.mp4", "http://%40evil.example/x"):
        with pytest.raises(UrlRejected, match="host is not usable"):
            check_url(url, STRICT, resolver=fake_resolver({}))


def test_remote_only_refuses_names_it_cannot_resolve():
    from wandr_pipeline.settings import Settings

    policy = UrlPolicy.from_settings(Settings.from_env(remote_only=True, api_allowed_networks=""))
    with pytest.raises(UrlRejected, match="does not resolve"):
        check_url("https://no-such-host.invalid/x", policy, fake_resolver({}))
    assert check_url("https://no-such-host.invalid/x", UrlPolicy(), fake_resolver({}))  # not remote-only: accepted
