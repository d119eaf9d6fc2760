"""Posts made of pictures: TikTok photo posts, Instagram image posts and carousels.

yt-dlp is built for videos: of a TikTok photo post it keeps only the soundtrack (`music.playUrl`) and
drops the pictures, which is where a travel slideshow's text is; a `/photo/<id>` URL is "Unsupported
URL"; an Instagram image post is "There is no video in this post". The pictures are what OCR must read.

`WandrTikTokIE` is yt-dlp's own TikTok extractor that also accepts `/photo/<id>` URLs (TikTok serves the
same post data at `/video/<id>`) and keeps the pictures of `imagePost.images` in the info dict
(`IMAGES`). Instagram's extractor already returns what is needed: an image post's picture is its
best thumbnail, a carousel is a playlist whose entries are its items (a picture: its best thumbnail;
a video: an info dict with formats). `post_items` reads them out of an info dict; the downloader fetches
them through yt-dlp (proxy, cookies, egress guard and limits included), and `media/slideshow.py` makes
them one video: the pictures the frames OCR reads once each, the video items' frames and speech.
"""

from __future__ import annotations

from typing import Any

from yt_dlp.extractor.tiktok import TikTokIE
from yt_dlp.utils import traverse_obj, url_or_none

from wandr_pipeline.media.slideshow import CAROUSEL, PHOTO_POST, PICTURE_ITEM, VIDEO, VIDEO_ITEM

IMAGES = "wandr_images"  # info-dict key: the post's picture URLs, in order
MAX_PICTURES = 50  # TikTok allows 35 pictures per post, Instagram 20 items per carousel


class WandrTikTokIE(TikTokIE):
    """TikTok's extractor, for `/photo/` URLs too, keeping a photo post's pictures."""

    IE_NAME = "TikTok"
    _VALID_URL = r"https?://www\.tiktokv?\.com/(?:embed|(?:share|@(?P<user_id>[\w\.-]+)?)/(?:video|photo))/(?P<id>\d+)"

    def _parse_aweme_video_web(self, aweme_detail, webpage_url, video_id, extract_flat=False):
        info = super()._parse_aweme_video_web(aweme_detail, webpage_url, video_id, extract_flat)
        pictures = traverse_obj(aweme_detail, ("imagePost", "images", ..., "imageURL", "urlList", 0, {url_or_none}))
        if pictures:
            info[IMAGES] = [self._proto_relative_url(url) for url in pictures]
        return info


def _has_video(info: dict[str, Any]) -> bool:
    formats = info.get("formats") or ([info] if info.get("url") else [])
    return any(f.get("vcodec") != "none" for f in formats)  # unknown codecs (Instagram's) count as video


def _best_thumbnail(info: dict[str, Any]) -> str | None:
    thumbnails = [t for t in info.get("thumbnails") or [] if url_or_none(t.get("url"))]
    if not thumbnails:
        return url_or_none(info.get("thumbnail"))
    best = max(thumbnails, key=lambda t: ((t.get("width") or 0) * (t.get("height") or 0), t.get("preference") or 0))
    return best["url"]


def post_items(info: dict[str, Any]) -> tuple[str, list[tuple[str, Any]]]:
    """(media type, items) of an extracted post: `video` (no items), `photo_post` or `carousel`.

    Each item is (`picture`, its URL) or (`video`, its info dict, for yt-dlp to download); a carousel's
    video item is the video itself, not its cover picture."""
    if info.get(IMAGES):
        return PHOTO_POST, [(PICTURE_ITEM, url) for url in list(info[IMAGES])[:MAX_PICTURES]]
    if info.get("_type") == "playlist" and info.get("extractor_key") == "Instagram":
        items: list[tuple[str, Any]] = []
        for entry in info.get("entries") or []:
            if not entry:
                continue
            if _has_video(entry):
                items.append((VIDEO_ITEM, entry))
            elif url := _best_thumbnail(entry):
                items.append((PICTURE_ITEM, url))
        return CAROUSEL, items[:MAX_PICTURES]
    if info.get("extractor_key") == "Instagram" and not _has_video(info):
        picture = _best_thumbnail(info)
        return (PHOTO_POST, [(PICTURE_ITEM, picture)]) if picture else (VIDEO, [])
    return VIDEO, []
