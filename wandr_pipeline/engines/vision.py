"""Google Cloud Vision TEXT_DETECTION behind the `OcrEngine` interface (`OCR_ENGINE=google`).

Imported only when that engine is chosen: the offline default never loads Google libraries.

- Frames are downsized to fit Vision's recommended OCR size (1024 x 768, either orientation; never
  upscaled) and sent as JPEG, up to 16 images per `batch_annotate_images` request (and under the
  10 MB JSON request limit).
- Requests of one `read()` call run in parallel (`max_concurrent_requests`), paced by a token bucket
  on images and requests per minute (the project's quota is shared by every worker: divide it).
- A request that fails with HTTP 429, 5xx, a deadline or a connection error is retried with
  exponential backoff and full jitter (1 s doubling up to 32 s, Vision's SLA back-off); when the
  attempts run out, every image of that request carries the error. An error Vision reports for one
  image, or a response that cannot be read, stays that image's (or that request's) error: `read()`
  never raises for them.
- Billing: each feature applied to an image is one billable unit; this engine applies one feature,
  so every image that came back without an error counts one unit (`units_per_image`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from wandr_pipeline.engines.ocr import TextBox
from wandr_pipeline.lib.outcomes import PermanentError, TransientError, short_error
from wandr_pipeline.lib.retry import call_with_retries

# (position in the read() call, JPEG bytes, (height, width) sent): one image of a request
_Encoded = tuple[int, bytes, tuple[int, int]]


@dataclass(frozen=True, kw_only=True)
class VisionOptions:
    """The engine's knobs, all filled by the OCR resource; the defaults left are Vision's own limits."""

    api_endpoint: str  # "" = Google's endpoint; "http://host:port" = a local fake (anonymous)
    transport: str  # rest | grpc
    max_concurrent_requests: int
    images_per_minute: int  # share of the TEXT_DETECTION feature quota (per project, default 1,800/min)
    requests_per_minute: int  # share of the request quota (per project, default 1,800/min)
    attempts: int
    base_delay_s: float
    max_delay_s: float
    timeout_s: float
    max_long_side: int  # Vision recommends 1024 x 768 for TEXT_DETECTION
    max_short_side: int
    min_confidence: float  # drop lines Vision scored lower (lines without a score are kept)
    language_hints: tuple[str, ...]
    max_images_per_request: int = 16  # Vision's limit per batch_annotate_images request
    max_request_bytes: int = 7_000_000  # raw image bytes per request; base64 adds ~37%, JSON limit is 10 MB
    jpeg_quality: int = 90


class VisionImageError(PermanentError):
    """Vision answered, but with an error for this image (e.g. bad image data)."""


class VisionRequestError(PermanentError):
    """The whole request failed (retries exhausted, or an answer that cannot be read)."""


def fit_for_ocr(image: np.ndarray, max_long_side: int = 1024, max_short_side: int = 768) -> np.ndarray:
    """Downsize `image` to fit max_long_side x max_short_side in its own orientation; never upscale."""
    height, width = image.shape[:2]
    long_side, short_side = max(height, width), min(height, width)
    scale = 1.0
    if max_long_side > 0:
        scale = min(scale, max_long_side / long_side)
    if max_short_side > 0:
        scale = min(scale, max_short_side / short_side)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def is_transient(exc: BaseException) -> bool:
    """HTTP 429 / 5xx / deadline (any transport), connection faults and timeouts."""
    try:
        from google.api_core import exceptions as api_exceptions
        from google.auth import exceptions as auth_exceptions
    except ImportError:  # pragma: no cover - the engine cannot be built without them
        return False
    if isinstance(exc, api_exceptions.GoogleAPICallError):
        code = getattr(exc, "code", None)
        return isinstance(code, int) and (code == 429 or 500 <= code <= 599)
    if isinstance(exc, auth_exceptions.TransportError):
        return True
    try:
        import requests
    except ImportError:  # pragma: no cover
        requests = None
    if requests is not None and isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))


class RateLimiter:
    """Token bucket: at most `per_minute` units a minute, with a burst of a quarter of that."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate = max(per_minute, 1e-9) / 60.0
        self.capacity = max(1.0, per_minute / 4.0)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def acquire(self, units: float = 1.0) -> float:
        """Take `units` tokens, waiting as needed; returns the seconds waited."""
        units = min(units, self.capacity)
        waited = 0.0
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= units:
                    self.tokens -= units
                    return waited
                wait = (units - self.tokens) / self.rate
            self.sleep(wait)
            waited += wait


class VisionOcrEngine:
    """Cloud Vision TEXT_DETECTION; one line of text per `TextBox`, boxes normalised to [0, 1]."""

    name = "google-vision"
    units_per_image = 1  # one feature (TEXT_DETECTION) per image

    def __init__(
        self,
        options: VisionOptions,
        *,
        credentials: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[int, BaseException, float], None] | None = None,
    ):
        from google.cloud import vision_v1  # noqa: F401 - fail at build time when the gcp extra is missing

        self.options = options
        if not 1 <= self.options.max_images_per_request <= 16:
            raise ValueError("max_images_per_request must be between 1 and 16 (Vision's limit)")
        self._credentials = credentials
        self._sleep = sleep
        self._on_retry = on_retry
        self._local = threading.local()
        self._images_limiter = RateLimiter(self.options.images_per_minute, sleep=sleep)
        self._requests_limiter = RateLimiter(self.options.requests_per_minute, sleep=sleep)
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.options.max_concurrent_requests), thread_name_prefix="vision"
        )

    @property
    def preferred_batch(self) -> int:
        """How many images one `read()` call should get to keep every parallel request busy."""
        return self.options.max_images_per_request * max(1, self.options.max_concurrent_requests)

    # -- the OcrEngine interface ----------------------------------------------------------------
    def read(self, images: Sequence[np.ndarray]) -> list[list[TextBox] | BaseException]:
        results: list[list[TextBox] | BaseException | None] = [None] * len(images)
        encoded: list[_Encoded] = []
        for i, image in enumerate(images):
            try:
                fitted = fit_for_ocr(image, self.options.max_long_side, self.options.max_short_side)
                ok, buffer = cv2.imencode(".jpg", fitted, [cv2.IMWRITE_JPEG_QUALITY, self.options.jpeg_quality])
                if not ok:
                    raise ValueError("JPEG encoding failed")
                encoded.append((i, buffer.tobytes(), fitted.shape[:2]))
            except Exception as exc:  # noqa: BLE001 - recorded for this image
                results[i] = exc
        futures = [self._pool.submit(self._annotate, group) for group in self._pack(encoded)]
        for future in futures:
            for i, result in future.result():
                results[i] = result
        return [r if r is not None else VisionRequestError("no result") for r in results]

    def _pack(self, encoded: list[_Encoded]) -> list[list[_Encoded]]:
        groups: list[list[_Encoded]] = []
        size = 0
        for item in encoded:
            if (
                not groups
                or len(groups[-1]) >= self.options.max_images_per_request
                or (groups[-1] and size + len(item[1]) > self.options.max_request_bytes)
            ):
                groups.append([])
                size = 0
            groups[-1].append(item)
            size += len(item[1])
        return groups

    # -- one request ---------------------------------------------------------------------------
    def _annotate(self, group: list[_Encoded]) -> list[tuple[int, list[TextBox] | BaseException]]:
        indices = [i for i, _, _ in group]
        try:
            response = call_with_retries(
                lambda: self._call([content for _, content, _ in group]),
                attempts=max(1, self.options.attempts),
                base_delay_s=self.options.base_delay_s,
                max_delay_s=self.options.max_delay_s,
                on_retry=self._on_retry,
                sleep=self._sleep,
            )
        except TransientError as exc:
            error = VisionRequestError(f"Vision request failed after {self.options.attempts} attempts: {exc}")
            return [(i, error) for i in indices]
        except Exception as exc:  # noqa: BLE001 - malformed answers, 4xx: this request's images fail
            error = VisionRequestError(f"Vision request failed: {short_error(exc)}")
            return [(i, error) for i in indices]
        answers = list(response.responses)
        out: list[tuple[int, list[TextBox] | BaseException]] = []
        for position, (i, _, (height, width)) in enumerate(group):
            if position >= len(answers):
                out.append((i, VisionRequestError(f"Vision returned {len(answers)} responses for {len(group)} images")))
                continue
            answer = answers[position]
            if answer.error and answer.error.code:
                out.append((i, VisionImageError(f"Vision error {answer.error.code}: {answer.error.message}")))
                continue
            try:
                out.append((i, self._lines(answer, width, height)))
            except Exception as exc:  # noqa: BLE001 - one unreadable annotation fails one image
                out.append((i, VisionImageError(f"unreadable annotation: {short_error(exc)}")))
        return out

    def _call(self, contents: list[bytes]):
        from google.cloud import vision_v1 as vision

        request = vision.BatchAnnotateImagesRequest(
            requests=[
                vision.AnnotateImageRequest(
                    image=vision.Image(content=content),
                    features=[vision.Feature(type_=vision.Feature.Type.TEXT_DETECTION)],
                    image_context=vision.ImageContext(language_hints=list(self.options.language_hints))
                    if self.options.language_hints
                    else None,
                )
                for content in contents
            ]
        )
        self._requests_limiter.acquire(1)
        self._images_limiter.acquire(len(contents))
        try:
            return self._client().batch_annotate_images(request=request, retry=None, timeout=self.options.timeout_s)
        except Exception as exc:
            if is_transient(exc):
                raise TransientError(short_error(exc)) from exc
            raise

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            from google.cloud import vision_v1 as vision

            endpoint = self.options.api_endpoint.strip()
            credentials = self._credentials
            if credentials is None and endpoint.startswith("http://"):
                # A plain-HTTP endpoint is a local fake or emulator: never send real tokens there.
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()
            client = vision.ImageAnnotatorClient(
                credentials=credentials,  # None: Application Default Credentials
                transport=self.options.transport,
                client_options={"api_endpoint": endpoint} if endpoint else None,
            )
            self._local.client = client
        return client

    # -- parsing -------------------------------------------------------------------------------
    def _lines(self, answer, width: int, height: int) -> list[TextBox]:
        lines = _lines_from_full_text(answer.full_text_annotation, width, height)
        if not lines and len(answer.text_annotations):
            lines = _lines_from_text_annotations(answer.text_annotations, width, height)
        minimum = self.options.min_confidence
        lines = [line for line in lines if math.isnan(line.confidence) or line.confidence >= minimum]
        lines.sort(key=lambda b: (round(b.y0, 2), b.x0))
        return lines


_SPACE_BREAKS = {1, 2}  # SPACE, SURE_SPACE
_LINE_BREAKS = {3, 4, 5}  # EOL_SURE_SPACE, HYPHEN, LINE_BREAK


def _box(vertices, width: int, height: int) -> tuple[float, float, float, float]:
    xs = [v.x for v in vertices] or [0]
    ys = [v.y for v in vertices] or [0]
    return (
        max(0.0, min(xs) / width),
        max(0.0, min(ys) / height),
        min(1.0, max(xs) / width),
        min(1.0, max(ys) / height),
    )


def _lines_from_full_text(annotation, width: int, height: int) -> list[TextBox]:
    """Lines from pages > blocks > paragraphs > words > symbols, split at Vision's detected breaks."""
    lines: list[TextBox] = []
    for page in annotation.pages:
        for block in page.blocks:
            for paragraph in block.paragraphs:
                text, boxes, scores = "", [], []

                def flush() -> None:
                    nonlocal text, boxes, scores
                    if text.strip():
                        x0 = min(b[0] for b in boxes)
                        y0 = min(b[1] for b in boxes)
                        x1 = max(b[2] for b in boxes)
                        y1 = max(b[3] for b in boxes)
                        scored = [s for s in scores if s > 0]
                        confidence = sum(scored) / len(scored) if scored else float("nan")
                        lines.append(TextBox(text.strip(), confidence, x0, y0, x1, y1))
                    text, boxes, scores = "", [], []

                for word in paragraph.words:
                    boxes.append(_box(word.bounding_box.vertices, width, height))
                    scores.append(word.confidence)
                    for symbol in word.symbols:
                        text += symbol.text
                        kind = int(symbol.property.detected_break.type_) if symbol.property else 0
                        if kind in _SPACE_BREAKS:
                            text += " "
                        elif kind in _LINE_BREAKS:
                            if kind == 4:
                                text += "-"
                            flush()
                flush()
    return lines


def _lines_from_text_annotations(annotations, width: int, height: int) -> list[TextBox]:
    """Fallback when there is no full text: the first annotation is the whole text with one box."""
    whole = annotations[0]
    x0, y0, x1, y1 = _box(whole.bounding_poly.vertices, width, height)
    return [
        TextBox(line.strip(), float("nan"), x0, y0, x1, y1) for line in whole.description.splitlines() if line.strip()
    ]
