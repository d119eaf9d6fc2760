"""TikTok and Instagram, offline: an HTTP proxy on 127.0.0.1 that is the platforms and their CDNs.

yt-dlp's real TikTok and Instagram extractors run against it through yt-dlp's `proxy` option (the
pipeline's `YTDLP_PROXY`). The fake answers `CONNECT host:443` itself, speaks TLS with a certificate
from a throwaway authority (`trustme`; the pipeline trusts it through `YTDLP_CA_BUNDLE`), and serves
what the extractors parse, built from the extractors' own field names (`RELIED_ON` lists the strings
it relies on; tests/engines/test_ytdlp_platforms.py checks that the installed extractors still read them):

- TikTok (web route, no impersonation): the post page `https://www.tiktok.com/@<user>/video/<id>` with
  its `__UNIVERSAL_DATA_FOR_REHYDRATION__` script: `__DEFAULT_SCOPE__` -> `webapp.video-detail` ->
  `statusCode` and `itemInfo.itemStruct` (`desc`, `createTime`, `author`, `video.playAddr`, `music`,
  `stats`); the media on `v16-webapp-prime.tiktok.com`.
- Instagram, logged out: the home page (`__eqmc`, the LSD token), `get_ruling_for_content`, then
  (without impersonation) the `/p/<code>` page whose `data-sjs` script carries
  `RelayPrefetchedStreamCache` -> `xig_polaris_media.if_not_gated_logged_out` (or, with impersonation,
  `POST /api/graphql` with the same media); the media on `scontent.cdninstagram.com`.

A post is registered with a `scenario` (`SCENARIOS`): a normal post, or one of the platforms' refusals.
Every request is logged (`requests`: method, host, path) so tests can check which questions the
extractors asked, and whether a browser asked them (`clients()`: `browser` for a request with a browser's
client hints, `sec-ch-ua`, which curl_cffi's Chrome targets send and yt-dlp's own transports never do,
else `yt-dlp`). A host the fake does not play is refused and logged too (nothing leaves the machine).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import trustme

from tests.support.paths import REPO
from tests.support.servers import BackgroundServer

TIKTOK = "www.tiktok.com"
TIKTOK_CDN = "v16-webapp-prime.tiktok.com"
INSTAGRAM = "www.instagram.com"
INSTAGRAM_CDN = "scontent.cdninstagram.com"
# Two web sites that send their answers at a crawl (the headers a byte every `slow_drip_s`): any path of
# them is a video link that never finishes, for runs where slow hosts must not hold the other downloads.
SLOW_HOSTS = ("media.slow-one.example", "cdn.slow-two.example")
HOSTS = (TIKTOK, TIKTOK_CDN, INSTAGRAM, "instagram.com", "i.instagram.com", INSTAGRAM_CDN, *SLOW_HOSTS)

# The strings in yt-dlp's extractor sources that these answers rely on (file under yt_dlp/extractor/).
RELIED_ON = {
    "tiktok.py": (
        "__UNIVERSAL_DATA_FOR_REHYDRATION__",
        "'__DEFAULT_SCOPE__'",
        "'webapp.video-detail'",
        "'statusCode'",
        "'itemInfo', 'itemStruct'",
        "'isContentClassified'",
        "'playAddr'",
        "'playUrl'",
        "'createTime'",
        "'desc'",
        "'uniqueId'",
        "'authorId'",
        "'nickname'",
        "'authorName'",
        "'playCount'",
        "'diggCount'",
        "'shareCount'",
        "'commentCount'",
        "status == 10204",
        "(10216, 10222)",
        "== '/login'",
    ),
    "instagram.py": (
        "__eqmc",
        "/web/get_ruling_for_content/",
        "https://www.instagram.com/api/graphql",
        "f'https://www.instagram.com/p/{video_id}'",
        "data-sjs",
        "'RelayPrefetchedStreamCache'",
        "'xig_polaris_media'",
        "'if_not_gated_logged_out'",
        "'video_versions'",
        "'carousel_media'",
        "'caption', 'text'",
        "'user', 'username'",
        "'user', 'full_name'",
        "'taken_at'",
        "'video_duration'",
        "'Restricted Video'",
        "path.startswith('/accounts/login')",
        "Instagram sent an empty media response",
    ),
}

# What a post can be. TikTok's `statusCode`s are the ones its extractor tells apart.
SCENARIOS = {
    "video",  # a normal post
    "private",  # TikTok statusCode 10216 / Instagram: a long (private) shortcode and no media
    "ip_blocked",  # TikTok statusCode 10204
    "removed",  # TikTok: another statusCode; Instagram: /p/<code> answers 404
    "age_restricted",  # TikTok isContentClassified; Instagram's ruling "Restricted Video"
    "login_wall",  # TikTok redirects to /login; Instagram redirects /p/ to /accounts/login/
    "page_403",  # the post page answers 403
    "rate_limited",  # the post page answers 429 with Retry-After: `retry_after` (then the post)
    "empty_media",  # Instagram: the page carries no media data
    "expired_url",  # the first media URL the page names answers 403 (expired signature), later ones work
    "expired_always",  # every media URL the page names answers 403
    "pdf_as_video",  # the CDN sends a PDF as video/mp4
    "slow_media_headers",  # the CDN sends its status line and headers at one byte every `drip_s`
    "slow_empty_media",  # the same, finished, then an empty body
    "photo_post",  # TikTok: `imagePost.images` (`pictures`) and the soundtrack (`soundtrack`), no video
    "image_post",  # Instagram: one picture, no video
    "carousel",  # Instagram: `pictures`, with the video `media` as the second item
    # The post page misbehaving (TikTok), for the egress limits on the transport that fetches it:
    "huge_page",  # announces and sends `HUGE_PAGE_BYTES` (a page padded with a comment)
    "slow_page",  # its status line and headers at one byte every `drip_s`
    "redirect_inward",  # a 302 to https://127.0.0.1/ (a page sending a fetcher to this machine)
}
HUGE_PAGE_BYTES = 10 * 2**20


@dataclass
class FakePost:
    """One post the fake plays, with the metadata it answers (the extractors' field names)."""

    platform: str  # tiktok | instagram
    post_id: str  # TikTok's numeric id, Instagram's shortcode
    scenario: str = "video"
    media: str = "lisbon_pasteis.mp4"  # a file of the fake's media folder
    description: str = "Best #pasteis in #Lisbon 🇵🇹 with @wandr.friend"
    uploader: str = "wandr.travel"  # TikTok uniqueId / Instagram username
    uploader_name: str = "Wandr Travel"
    uploader_id: str = "6812345678901234567"
    created: int = 1706659200  # 2024-01-31T00:00:00Z
    duration_s: int = 11
    music_title: str = "original sound - wandr.travel"
    music_artist: str = "Wandr Travel"
    views: int = 12034
    likes: int = 3401
    comments: int = 25
    shares: int = 12
    location: str | None = None
    retry_after: int = 1
    drip_s: float = 1.0
    cdn_host: str | None = None  # another host for the media URL the page names (a page pointing inward)
    pictures: tuple[str, ...] = ()  # files of a picture post, in order
    soundtrack: str | None = None  # a photo post's soundtrack file (m4a)
    cover: str = "rapidocr_ch_en_num.jpg"  # an Instagram video's cover picture
    page_requests: int = field(default=0, init=False)

    @property
    def url(self) -> str:
        if self.platform == "tiktok":
            return f"https://{TIKTOK}/@{self.uploader}/video/{self.post_id}"
        return f"https://{INSTAGRAM}/reel/{self.post_id}/"


class PlatformFake(BackgroundServer):
    """The proxy (`proxy_url`) and its certificate authority (`ca_file`, a PEM to trust)."""

    def __init__(self, media_root: Path | list[Path], workdir: Path):
        """`media_root`: the folder(s) whose files the CDNs serve (videos, pictures, soundtracks) by name."""
        self.media_roots = [Path(root) for root in (media_root if isinstance(media_root, list) else [media_root])]
        self.ca = trustme.CA()
        self.ca_file = workdir / "platform-fake-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(*HOSTS).configure_cert(self.tls)
        self.posts: dict[tuple[str, str], FakePost] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.request_clients: list[str] = []  # beside `requests`: browser | yt-dlp
        self.times: dict[str, list[float]] = {}
        self.refused_hosts: Counter[str] = Counter()
        self.slow_drip_s = 0.2  # SLOW_HOSTS: seconds between two bytes of their headers
        self.lock = threading.Lock()
        super().__init__(_Handler, fake=self)

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, platform: str, post_id: str, scenario: str = "video", **fields) -> FakePost:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        post = FakePost(platform, post_id, scenario, **fields)
        self.posts[(platform, post_id)] = post
        return post

    def log(self, method: str, host: str, path: str, client: str = "yt-dlp") -> None:
        with self.lock:
            self.requests.append((method, host, path))
            self.request_clients.append(client)
            self.times.setdefault(f"{host}{path}", []).append(time.monotonic())

    def asked(self, host: str | None = None) -> list[tuple[str, str]]:
        """(method, path) of the requests that reached `host` (all hosts: None), in order."""
        with self.lock:
            return [(m, p) if host else (m, f"{h}{p}") for m, h, p in self.requests if host in (None, h)]

    def clients(self, host: str | None = None) -> list[tuple[str, str]]:
        """(path, client) of the requests that reached `host` (all hosts: None), in order."""
        with self.lock:
            pairs = zip(self.requests, self.request_clients, strict=True)
            return [(p if host else f"{h}{p}", c) for (_, h, p), c in pairs if host in (None, h)]

    def clear_log(self) -> None:
        with self.lock:
            self.requests.clear()
            self.request_clients.clear()
            self.times.clear()


# --- the answers -------------------------------------------------------------------------------


def tiktok_item(post: FakePost, media_url: str) -> dict:
    """`itemInfo.itemStruct` of a TikTok post page, as its web app embeds it."""
    item = {
        "id": post.post_id,
        "desc": post.description,
        "createTime": str(post.created),
        "author": {
            "id": post.uploader_id,
            "uniqueId": post.uploader,
            "nickname": post.uploader_name,
            "secUid": "MS4wLjABAAAA" + post.uploader_id,
        },
        "music": {
            "id": "7300000000000000001",
            "title": post.music_title,
            "authorName": post.music_artist,
            "duration": post.duration_s,
            "original": True,
        },
        "stats": {
            "playCount": post.views,
            "diggCount": post.likes,
            "shareCount": post.shares,
            "commentCount": post.comments,
            "collectCount": 3,
        },
        "video": {
            "id": post.post_id,
            "duration": post.duration_s,
            "width": 576,
            "height": 1024,
            "ratio": "540p",
            "format": "mp4",
            "playAddr": media_url,
            "cover": f"https://{TIKTOK_CDN}/cover/{post.post_id}.jpeg",
        },
    }
    if post.scenario == "photo_post":
        item["imagePost"] = {
            "images": [
                {"imageURL": {"urlList": [cdn_url(post, TIKTOK_CDN, name)]}, "imageWidth": 1080, "imageHeight": 1440}
                for name in post.pictures
            ],
            "title": post.description,
        }
        item["video"] = {"id": "", "duration": 0, "width": 1080, "height": 1440}  # no playAddr
        if post.soundtrack:
            item["music"]["playUrl"] = cdn_url(post, TIKTOK_CDN, post.soundtrack) + "&mime_type=audio_mp4"
    if post.location:
        item["poi"] = {"name": post.location, "type": 1}
        item["locationCreated"] = "PT"
    return item


def tiktok_page(post: FakePost, media_url: str) -> bytes:
    status, item = 0, tiktok_item(post, media_url)
    if post.scenario == "private":
        status, item = 10216, {}
    elif post.scenario == "ip_blocked":
        status, item = 10204, {}
    elif post.scenario == "removed":
        status, item = 10217, {}  # any code the extractor does not name: "Video not available"
    elif post.scenario == "age_restricted":
        item = {k: v for k, v in item.items() if k != "video"} | {"isContentClassified": True}
    scope = {
        "webapp.app-context": {"language": "en", "region": "PT"},
        "webapp.video-detail": {"statusCode": status, "statusMsg": "", "itemInfo": {"itemStruct": item}},
    }
    data = json.dumps({"__DEFAULT_SCOPE__": scope}, ensure_ascii=False)
    return (
        '<!DOCTYPE html><html lang="en"><head><title>TikTok - Make Your Day</title></head><body>'
        f'<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__" type="application/json">{data}</script>'
        "</body></html>"
    ).encode()


def _instagram_pk(shortcode: str) -> int:
    from yt_dlp.extractor.instagram import _id_to_pk

    return _id_to_pk(shortcode)


def instagram_media(post: FakePost, media_url: str) -> dict:
    """`xig_polaris_media.if_not_gated_logged_out`: Instagram's media item (its v1 API's fields)."""
    media = {
        "pk": str(_instagram_pk(post.post_id)),
        "id": f"{_instagram_pk(post.post_id)}_{post.uploader_id}",
        "code": post.post_id,
        "media_type": 2,
        "product_type": "clips",
        "taken_at": post.created,
        "caption": {"text": post.description},
        "user": {"pk": post.uploader_id, "username": post.uploader, "full_name": post.uploader_name},
        "like_count": post.likes,
        "comment_count": post.comments,
        "view_count": post.views,
        "video_duration": float(post.duration_s),
        "has_audio": True,
        "video_versions": [{"type": 101, "width": 576, "height": 1024, "url": media_url, "id": "1"}],
        "image_versions2": {
            "candidates": [{"width": 576, "height": 1024, "url": cdn_url(post, INSTAGRAM_CDN, post.cover)}]
        },
        "clips_metadata": {"music_info": None, "original_sound_info": {"original_audio_title": post.music_title}},
    }
    if post.scenario in ("image_post", "carousel"):
        items = [_instagram_picture(post, name) for name in post.pictures]
        if post.scenario == "image_post":
            media.update({k: v for k, v in items[0].items() if k != "pk"})
            for key in ("video_versions", "video_duration", "has_audio", "product_type"):
                media.pop(key, None)
        else:
            video_item = {k: media[k] for k in ("video_versions", "video_duration", "has_audio", "image_versions2")}
            items.insert(1, {**video_item, "media_type": 2, "pk": str(_instagram_pk(post.post_id) + 2)})
            for key in ("video_versions", "video_duration", "has_audio", "image_versions2", "product_type"):
                media.pop(key, None)
            media.update(media_type=8, carousel_media=items)
    if post.location:
        media["location"] = {"pk": "213385402", "name": post.location, "lat": 38.6975, "lng": -9.2033}
    return media


def _instagram_picture(post: FakePost, name: str) -> dict:
    url = cdn_url(post, INSTAGRAM_CDN, name)
    return {
        "media_type": 1,
        "pk": str(_instagram_pk(post.post_id) + 1 + post.pictures.index(name)),
        "image_versions2": {
            "candidates": [
                {"width": 1080, "height": 1350, "url": url},
                {"width": 320, "height": 400, "url": url + "&s=320"},
            ]
        },
    }


def cdn_url(post: FakePost, cdn: str, name: str) -> str:
    """A signed CDN URL of one of the post's files (pictures, soundtrack)."""
    if post.platform == "tiktok":
        return f"https://{cdn}/video/tos/tiktok/{post.post_id}/{name}?expire=1706662800&signature=sigp"
    return f"https://{cdn}/o1/v/t16/instagram/{post.post_id}/{name}?efg=eyJ2&oe=65B9A3C0&oh=sigp"


def instagram_post_page(post: FakePost, media_url: str) -> bytes:
    """The logged-out `/p/<code>` page: the media in a `data-sjs` script (one line, as the extractor reads it)."""
    scripts = ""
    if post.scenario != "empty_media":
        payload = {"__bbox": {"result": {"data": {"xig_polaris_media": {"if_not_gated_logged_out": None}}}}}
        payload["__bbox"]["result"]["data"]["xig_polaris_media"]["if_not_gated_logged_out"] = instagram_media(
            post, media_url
        )
        cache = ["RelayPrefetchedStreamCache", "next", [], ["adp_PolarisPostRootQueryRelayPreloader_1", payload]]
        sjs = {"require": [["ScheduledServerJS", "handle", None, [{"__bbox": {"require": [cache]}}]]]}
        scripts = f'<script type="application/json" data-content-len="1" data-sjs>{json.dumps(sjs)}</script>'
    return (
        f'<!DOCTYPE html><html><head><title>Instagram</title></head><body>{scripts}<div id="root"></div></body></html>'
    ).encode()


INSTAGRAM_HOME = (
    b"<!DOCTYPE html><html><head><title>Instagram</title></head><body>"
    b'<script type="application/json" id="__eqmc">{"u":"\\/ajax\\/qm\\/","e":"AcQ","s":"x","l":"AVqfake-lsd","f":"1"}'
    b"</script></body></html>"
)
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Log in</title></head><body><form></form></body></html>"
EXPIRED = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n" * 40


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    tunnel_host: str | None = None

    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass

    @property
    def fake(self) -> PlatformFake:
        return self.server.fake

    def do_CONNECT(self):  # noqa: N802 - http.server's naming
        host, _, port = self.path.rpartition(":")
        if host not in HOSTS or port != "443":
            self.fake.refused_hosts[self.path] += 1
            self.send_error(502, "not a host the platform fake plays")
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        try:
            tls = self.fake.tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):  # a client that does not trust the fake's authority hangs up
            self.close_connection = True
            return
        self.connection, self.tunnel_host = tls, host
        self.rfile, self.wfile = tls.makefile("rb"), tls.makefile("wb")
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()
        self.close_connection = True

    def do_GET(self):  # noqa: N802
        self._route("GET")

    def do_HEAD(self):  # noqa: N802
        self._route("HEAD")

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        self._route("POST")

    # -- routing

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        host = self.tunnel_host or parts.hostname or ""
        if not self.tunnel_host and host not in HOSTS:  # a plain-HTTP request for a host the fake does not play
            self.fake.refused_hosts[host] += 1
            self._send(502, b"not a host the platform fake plays", "text/plain")
            return
        self.fake.log(method, host, parts.path, "browser" if "sec-ch-ua" in self.headers else "yt-dlp")
        self.query = parse_qs(parts.query)
        self.head = method == "HEAD"
        if host == TIKTOK:
            self._tiktok(parts.path)
        elif host in (INSTAGRAM, "instagram.com", "i.instagram.com"):
            self._instagram(method, parts.path)
        elif host in (TIKTOK_CDN, INSTAGRAM_CDN):
            self._media(host, parts.path)
        elif host in SLOW_HOSTS:
            self._drip_headers(self.fake.slow_drip_s)
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self.head:
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(302, b"", "text/html", {"Location": location})

    def _post(self, platform: str, post_id: str) -> FakePost | None:
        post = self.fake.posts.get((platform, post_id))
        if post is not None:
            with self.fake.lock:
                post.page_requests += 1
        return post

    def _media_url(self, post: FakePost, cdn: str) -> str:
        """The signed CDN URL a page names; `expired_url` pages name an expired one the first time."""
        expired = post.scenario == "expired_always" or (post.scenario == "expired_url" and post.page_requests == 1)
        signature = "expired" if expired else f"sig{post.page_requests}"
        name = f"{post.platform}/{post.post_id}/{post.media}"
        cdn = post.cdn_host or cdn
        if post.platform == "tiktok":
            return f"https://{cdn}/video/tos/{name}?expire=1706662800&signature={signature}&mime_type=video_mp4"
        return f"https://{cdn}/o1/v/t16/{name}?efg=eyJ2&oe=65B9A3C0&oh={signature}"

    def _refusal(self, post: FakePost) -> bool:
        """Answer the page-level refusals every platform shares; True when answered."""
        if post.scenario == "page_403":
            self._send(403, b"<html><body>Forbidden</body></html>", "text/html")
            return True
        if post.scenario == "rate_limited" and post.page_requests == 1:
            self._send(429, b"Too Many Requests", "text/plain", {"Retry-After": str(post.retry_after)})
            return True
        return False

    # -- TikTok

    def _tiktok(self, path: str) -> None:
        segments = path.strip("/").split("/")
        if path.startswith("/login"):
            self._send(200, LOGIN_PAGE, "text/html")
            return
        if len(segments) != 3 or segments[1] != "video":
            self._send(404, b"not found", "text/html")
            return
        post = self._post("tiktok", segments[2])
        if post is None:
            self._send(404, b"not found", "text/html")
            return
        if self._refusal(post):
            return
        if post.scenario == "login_wall":
            self._redirect(f"https://{TIKTOK}/login?redirect_url=https%3A%2F%2Fwww.tiktok.com{path}")
            return
        if post.scenario == "redirect_inward":
            self._redirect(f"https://127.0.0.1{path}")
            return
        if post.scenario == "slow_page":
            self._drip_headers(post.drip_s)
            return
        page = tiktok_page(post, self._media_url(post, TIKTOK_CDN))
        if post.scenario == "huge_page":
            page += b"<!--" + b"x" * (HUGE_PAGE_BYTES - len(page) - 7) + b"-->"
        try:
            self._send(200, page, "text/html; charset=utf-8")
        except OSError:  # a client that refuses the page's size hangs up
            self.close_connection = True

    # -- Instagram

    def _instagram(self, method: str, path: str) -> None:
        if path == "/":
            self._send(200, INSTAGRAM_HOME, "text/html; charset=utf-8", {"Set-Cookie": "csrftoken=fakecsrf; Path=/"})
            return
        if path.startswith("/accounts/login"):
            self._send(200, LOGIN_PAGE, "text/html")
            return
        if path == "/api/v1/web/get_ruling_for_content/":
            post = self._post_by_pk(self.query.get("target_id", [""])[0])
            ruling = {"status": "ok"}
            if post is not None and post.scenario == "age_restricted":
                ruling = {
                    "title": "Restricted Video",
                    "description": "You must be 18 years old or over to see this video.",
                    "status": "ok",
                }
            self._send(200, json.dumps(ruling).encode(), "application/json")
            return
        if path == "/api/graphql" and method == "POST":
            variables = json.loads(parse_qs(self.body.decode()).get("variables", ["{}"])[0])
            post = self._post_by_pk(str(variables.get("media_id", "")))
            media = None
            if post is not None and post.scenario in ("video", "expired_url", "expired_always", "pdf_as_video"):
                media = instagram_media(post, self._media_url(post, INSTAGRAM_CDN))
            body = {"data": {"xig_polaris_media": {"if_not_gated_logged_out": media}}}
            self._send(200, json.dumps(body).encode(), "application/json")
            return
        segments = path.strip("/").split("/")
        if len(segments) == 2 and segments[0] in ("p", "reel", "reels", "tv"):
            post = self._post("instagram", segments[1])
            if post is None or post.scenario == "removed":
                self._send(404, b"<html><body>Sorry, this page isn't available.</body></html>", "text/html")
                return
            if self._refusal(post):
                return
            if post.scenario == "login_wall":
                self._redirect(f"https://{INSTAGRAM}/accounts/login/?next={path}")
                return
            page = instagram_post_page(post, self._media_url(post, INSTAGRAM_CDN))
            if post.scenario in ("private", "age_restricted"):
                page = instagram_post_page(FakePost("instagram", post.post_id, "empty_media"), "")
            self._send(200, page, "text/html; charset=utf-8")
            return
        self._send(404, b"not found", "text/html")

    def _post_by_pk(self, pk: str) -> FakePost | None:
        for (platform, post_id), post in self.fake.posts.items():
            if platform == "instagram" and str(_instagram_pk(post_id)) == pk:
                return post
        return None

    # -- the CDNs

    def _media(self, host: str, path: str) -> None:
        prefix = "/video/tos/" if host == TIKTOK_CDN else "/o1/v/t16/"
        if not path.startswith(prefix):
            self._send(404, b"not found", "text/plain")
            return
        platform, post_id, name = (path[len(prefix) :].split("/") + ["", "", ""])[:3]
        post = self.fake.posts.get((platform, post_id))
        signature = (self.query.get("signature") or self.query.get("oh") or [""])[0]
        if post is None or signature == "expired":
            self._send(403, EXPIRED, "text/xml")
            return
        if post.scenario == "pdf_as_video":
            self._send(200, PDF, "video/mp4")
            return
        file = next((root / name for root in self.fake.media_roots if (root / name).is_file()), None)
        if file is None:
            self._send(404, b"not found", "text/plain")
            return
        if post.scenario in ("slow_media_headers", "slow_empty_media"):
            self._drip_headers(post.drip_s, finish=post.scenario == "slow_empty_media")
            return
        content_type = {".jpg": "image/jpeg", ".png": "image/png", ".m4a": "audio/mp4"}.get(file.suffix, "video/mp4")
        self._send(200, file.read_bytes(), content_type, {"Accept-Ranges": "none"})

    def _drip_headers(self, every_s: float, *, finish: bool = False) -> None:
        """The status line and headers a byte at a time: never finished, or (`finish`) finished over an
        empty body, as a server does that sends its headers slowly and then nothing."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 1000000\r\nX-Padding: " + b"x" * 4096
        if finish:
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nConnection: close\r\nX-Padding: "
                + b"x" * 16
                + b"\r\n\r\n"
            )
        try:
            for byte in head:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(every_s)
        except OSError:
            pass
        self.close_connection = True


def serving_samples(media_root: Path, workdir: Path, ffmpeg: str) -> PlatformFake:
    """The platforms serving the clips of `media_root`, the real pictures of data/real/images and, as
    `soundtrack.m4a` (a photo post's music), the Lisbon clip's sound."""
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-i", str(media_root / "lisbon_pasteis.mp4")]
        + ["-vn", "-c:a", "copy", str(workdir / "soundtrack.m4a")],
        check=True,
    )
    return PlatformFake([media_root, REPO / "data" / "real" / "images", workdir], workdir)
