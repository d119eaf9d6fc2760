"""A yt-dlp extractor for tests: `http://127.0.0.1:<port>/extractor/<case>` on the fault server.

It raises the errors real extractors raise (the messages are copied from yt-dlp's TikTok and
Instagram extractors) or returns posts whose metadata and formats are awkward. yt-dlp loads it as a
plugin when `tests/support/ytdlp_plugins` is on PYTHONPATH; nothing outside the tests sees it.
"""

from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.utils import ExtractorError


class WandrFaultsIE(InfoExtractor):
    IE_NAME = "wandrfaults"
    _VALID_URL = r"https?://127\.0\.0\.1:\d+/extractor/(?P<id>[a-z0-9-]+)(?:/(?P<clip>[A-Za-z0-9_.-]+))?"

    def _real_extract(self, url):
        case, clip = self._match_valid_url(url).group("id", "clip")
        base = url.split("/extractor/", 1)[0]
        if case == "login":
            self.raise_login_required("TikTok is requiring login for access to this content")
        if case == "private":
            self.raise_login_required(
                "You do not have permission to view this post. Log into an account that has access"
            )
        if case == "ip-blocked":
            raise ExtractorError("Your IP address is blocked from accessing this post", expected=True)
        if case == "rate-limit":
            self.raise_login_required(
                "The webpage request was redirected to the login page. "
                "You have exceeded the rate-limit for accessing posts anonymously"
            )
        if case == "geo":
            self.raise_geo_restricted(countries=["US"])
        if case == "photo-slideshow":
            # TikTok photo posts: yt-dlp offers only the soundtrack (the pictures are thumbnails).
            return {
                "id": "7350000000000000001",
                "title": "Kyoto in 5 photos",
                "uploader": "wandr.test",
                "description": "#kyoto #photos",
                "duration": 12.0,
                "formats": [
                    {
                        "format_id": "audio",
                        "url": f"{base}/media/{clip}",
                        "ext": "m4a",
                        "vcodec": "none",
                        "acodec": "aac",
                    }
                ],
                "thumbnails": [{"url": f"{base}/media/photo-{i}.jpg"} for i in range(5)],
            }
        if case == "odd-metadata":
            return {
                "id": "7350000000000000002",
                "title": "Lisbon \U0001f1f5\U0001f1f9 caf\u00e9 \u200b\u202eRTL\u202c \U0001f600",
                # What a non-UTF-8 source decoded with surrogateescape looks like, plus a NUL and a control.
                "description": "Pastel de nata \udce9 \udcff\x00\x07 #lisbon #\u65c5\u884c",
                "uploader": "Jos\u00c3\u00a9",  # mojibake: UTF-8 read as Latin-1
                "tags": ["caf\u00e9", 42, None, "\U0001f600"],
                "url": f"{base}/media/{clip}",
                "ext": "mp4",
            }
        if case == "long-post":
            # The platform reports the duration: the limit applies before a byte of media is fetched.
            return {
                "id": "7350000000000000003",
                "title": "a long live stream",
                "duration": 3600.0,
                "url": f"{base}/media/{clip}",
                "ext": "mp4",
            }
        if case == "evil-names":
            return {
                "id": "../../../../tmp/wandr-evil",
                "title": "../../etc/passwd",
                "uploader": "/root",
                "url": f"{base}/media/{clip}",
                "ext": "mp4",
            }
        raise ExtractorError(f"unknown test case {case!r}", expected=True)
