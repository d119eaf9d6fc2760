"""The `google` OCR engine: the real google-cloud-vision client (REST transport) against a local
endpoint that speaks the Vision REST API (tests/support/gcp_fakes.py).

Here the endpoint "reads" a number drawn as a barcode, which is fast and exact, so each answer can
be matched to the image it belongs to; tests/integration/test_gcs_pipeline.py puts real OCR behind it."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("google.cloud.vision_v1")

from tests.support.gcp_fakes import FakeVision  # noqa: E402
from wandr_pipeline.engines.vision import (  # noqa: E402
    RateLimiter,
    VisionImageError,
    VisionOcrEngine,
    VisionOptions,
    VisionRequestError,
    fit_for_ocr,
)

BITS = 10


def coded_image(number: int, width: int = 640, height: int = 360) -> np.ndarray:
    """A frame showing `number` as black/white vertical bands (survives JPEG and resizing)."""
    image = np.full((height, width, 3), 255, np.uint8)
    band = width / (BITS + 2)
    for bit in range(BITS + 2):
        # a black start band and a white end band frame the bits
        black = bit == 0 or (0 < bit <= BITS and number >> (bit - 1) & 1)
        if black:
            image[:, int(bit * band) : int((bit + 1) * band)] = 0
    return image


def read_code(image: np.ndarray):
    """The fake's OCR: the number in the bands, as a caption line in the middle of the frame."""
    height, width = image.shape[:2]
    band = width / (BITS + 2)
    row = image[height // 2].mean(axis=1)
    if row[int(band / 2)] > 128:  # no start band: not one of ours
        return []
    number = sum(1 << (bit - 1) for bit in range(1, BITS + 1) if row[int((bit + 0.5) * band)] < 128)
    return [(f"CAFE {number}", 0.97, (0.1, 0.40, 0.6, 0.55))]


def is_gray(image: np.ndarray) -> bool:
    return float(image.std()) < 1.0 and abs(float(image.mean()) - 127) < 3


@pytest.fixture(scope="module")
def vision():
    fake = FakeVision(read_code)
    yield fake
    fake.close()


@pytest.fixture()
def fake(vision):
    vision.plan.clear()
    vision.rule = None
    vision.delay_s = 0.0
    vision.image_error = None
    vision.calls.clear()
    vision.peak_in_flight = 0
    return vision


def engine_for(fake: FakeVision, retries: list | None = None, **overrides) -> VisionOcrEngine:
    options = dict(
        api_endpoint=fake.endpoint,
        transport="rest",
        max_concurrent_requests=4,
        images_per_minute=1800,
        requests_per_minute=1800,
        attempts=5,
        base_delay_s=0.05,
        max_delay_s=0.2,
        timeout_s=10.0,
        max_long_side=1024,
        max_short_side=768,
        min_confidence=0.0,
        language_hints=(),
    )
    options.update(overrides)
    return VisionOcrEngine(
        VisionOptions(**options),
        on_retry=(lambda attempt, exc, delay: retries.append((attempt, exc, delay))) if retries is not None else None,
    )


def test_normal_batch_reads_every_frame_in_parallel_requests_of_at_most_16(fake):
    fake.delay_s = 0.3  # long enough for requests to overlap
    images = [coded_image(i) for i in range(20)]
    images.append(coded_image(999, width=1080, height=1920))  # portrait, over 1024 x 768
    images.append(np.full((360, 640, 3), 127, np.uint8))  # Vision answers this image with an error
    fake.image_error = lambda image: {"code": 3, "message": "Bad image data."} if is_gray(image) else None

    results = engine_for(fake, max_concurrent_requests=2).read(images)

    assert len(results) == len(images)
    for i in range(20):
        assert not isinstance(results[i], BaseException), results[i]
        assert [box.text for box in results[i]] == [f"CAFE {i}"]
        box = results[i][0]
        assert 0.0 <= box.x0 < box.x1 <= 1.0 and 0.0 <= box.y0 < box.y1 <= 1.0
        assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((0.1, 0.4, 0.6, 0.55), abs=0.01)
        assert box.confidence == pytest.approx(0.97)
    assert [box.text for box in results[20]] == ["CAFE 999"]
    assert isinstance(results[21], VisionImageError) and "Bad image data" in str(results[21])

    # 22 images -> two requests (16 + 6), sent in parallel, feature TEXT_DETECTION as the integer 5.
    assert sorted(len(call.images) for call in fake.calls) == [6, 16]
    assert fake.peak_in_flight == 2
    assert all(types == [5] for call in fake.calls for types in call.feature_types)
    sizes = [image.shape[:2] for call in fake.calls for image in call.images]
    assert (1024, 576) in sizes  # 1080 x 1920 portrait fitted to Vision's 1024 x 768 recommendation
    assert all(max(h, w) <= 1024 and min(h, w) <= 768 for h, w in sizes)
    assert (360, 640) in sizes  # small frames are not upscaled


def test_429_then_success_is_retried_with_backoff(fake):
    fake.plan[:] = [429]
    retries: list = []
    results = engine_for(fake, retries).read([coded_image(7), coded_image(8)])
    assert [[b.text for b in r] for r in results] == [["CAFE 7"], ["CAFE 8"]]
    assert len(fake.calls) == 2
    assert len(retries) == 1 and "429" in str(retries[0][1])
    assert 0.0 <= retries[0][2] <= 0.05  # full jitter within the first backoff step


def test_deadline_then_success_is_retried(fake):
    fake.plan[:] = [("sleep", 3.0)]  # the first answer comes after the client's deadline
    retries: list = []
    start = time.perf_counter()
    results = engine_for(fake, retries, timeout_s=1.0).read([coded_image(5)])
    assert [b.text for b in results[0]] == ["CAFE 5"]
    assert len(retries) == 1
    assert time.perf_counter() - start < 3.0  # did not wait for the slow answer


def test_500_storm_exhausts_retries_and_fails_only_its_request(fake):
    # Requests carrying the wide image always get 500; the other request is answered.
    fake.rule = lambda call: 500 if any(image.shape[1] == 800 for image in call.images) else None
    retries: list = []
    images = [coded_image(1, width=800), coded_image(2), coded_image(3)]
    engine = engine_for(fake, retries, attempts=3, max_images_per_request=1, max_concurrent_requests=1)
    results = engine.read(images)
    assert isinstance(results[0], VisionRequestError)
    assert "after 3 attempts" in str(results[0]) and "500" in str(results[0])
    assert [b.text for b in results[1]] == ["CAFE 2"]
    assert [b.text for b in results[2]] == ["CAFE 3"]
    storm_calls = [c for c in fake.calls if c.images[0].shape[1] == 800]
    assert len(storm_calls) == 3 and len(retries) == 2
    assert [delay <= 0.05 * 2**i for i, (_, _, delay) in enumerate(retries)] == [True, True]


def test_malformed_response_fails_that_request_without_raising(fake):
    fake.plan[:] = ["malformed", "short"]
    engine = engine_for(fake, max_images_per_request=2, max_concurrent_requests=1)
    results = engine.read([coded_image(n) for n in (1, 2, 3, 4, 5)])
    # Request 1 (images 0-1): a body that is not JSON. Request 2 (2-3): one response for two images.
    assert isinstance(results[0], VisionRequestError) and "ParseError" in str(results[0])
    assert isinstance(results[1], VisionRequestError)
    assert [b.text for b in results[2]] == ["CAFE 3"]
    assert isinstance(results[3], VisionRequestError) and "1 responses for 2 images" in str(results[3])
    assert [b.text for b in results[4]] == ["CAFE 5"]
    assert len(fake.calls) == 3  # a malformed answer is not retried


def test_fit_for_ocr_keeps_orientation_and_never_upscales():
    assert fit_for_ocr(np.zeros((1920, 1080, 3), np.uint8)).shape[:2] == (1024, 576)
    assert fit_for_ocr(np.zeros((1080, 1920, 3), np.uint8)).shape[:2] == (576, 1024)
    assert fit_for_ocr(np.zeros((900, 1200, 3), np.uint8)).shape[:2] == (768, 1024)
    assert fit_for_ocr(np.zeros((480, 640, 3), np.uint8)).shape[:2] == (480, 640)


def test_rate_limiter_paces_to_the_quota():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(120, clock=lambda: now[0], sleep=sleep)  # 2 a second, burst of 30
    for _ in range(15):
        limiter.acquire(2)
    assert slept == []  # the burst
    for _ in range(10):
        limiter.acquire(2)
    assert now[0] == pytest.approx(10.0)  # 20 more units at 2 a second


def test_environment_selects_and_configures_the_google_engine(monkeypatch):
    from wandr_pipeline.defs.resources import build_resources
    from wandr_pipeline.settings import Settings

    monkeypatch.setenv("OCR_ENGINE", "google")
    monkeypatch.setenv("VISION_API_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("VISION_MAX_CONCURRENT_REQUESTS", "7")
    monkeypatch.setenv("VISION_IMAGES_PER_MINUTE", "450")
    monkeypatch.setenv("VISION_ATTEMPTS", "3")
    monkeypatch.setenv("VISION_TIMEOUT_S", "12.5")
    monkeypatch.setenv("VISION_LANGUAGE_HINTS", "en, ja")
    engine = build_resources(Settings.from_env())["ocr"].get_engine()
    assert isinstance(engine, VisionOcrEngine) and engine.name == "google-vision"
    s = engine.options
    assert (
        s.api_endpoint,
        s.max_concurrent_requests,
        s.images_per_minute,
        s.attempts,
        s.timeout_s,
        s.language_hints,
    ) == ("http://127.0.0.1:9", 7, 450, 3, 12.5, ("en", "ja"))
    assert engine.preferred_batch == 16 * 7
