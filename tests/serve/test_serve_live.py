"""Live mode in headless Chromium: a WebM video and a fake webcam segmented frame after frame.

Checked: frames/s is reported, the overlay follows the picture, at most one frame is ever in
flight, nothing is left in flight (page or server) once the video ends or Stop is pressed, and a
server answering 503 is waited for (Retry-After), not hammered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from segnet.serve import create_app
from segnet.serve.background import BackgroundServer

from conftest import CHROMIUM_ARGS, open_ready_page, scene
from test_serve_browser import canvas_pixels
from test_serve_concurrency import CountingPredict

FAKE_CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


class SegmentCounter:
    """ASGI wrapper: /api/segment requests in progress now, the most ever at once, and in all."""

    def __init__(self, app) -> None:
        self.app = app
        self.now = self.most = self.total = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/segment":
            return await self.app(scope, receive, send)
        self.now += 1
        self.total += 1
        self.most = max(self.most, self.now)
        try:
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


def moving_frames(count: int, height: int = 120, width: int = 160) -> Iterator[np.ndarray]:
    """A road scene with a red box driving right and a yellow disc falling, so labels change per frame."""
    yy, xx = np.mgrid[:height, :width]
    for i in range(count):
        image = scene(height, width, seed=i).astype(np.int32)
        x = (i * 5) % (width - 40)
        image[70:100, x:x + 40] = (220, 30, 30)
        cy, cx = 10 + (i * 3) % (height - 20), width - 30
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 150] = (240, 220, 40)
        yield image.astype(np.uint8)


def write_webm(path: Path, frames: int = 45, fps: int = 15, height: int = 120, width: int = 160) -> Path:
    """A VP8 WebM (Chromium's open build plays VP8, not H.264) of `moving_frames`."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 800_000
        for image in moving_frames(frames, height, width):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_webm(tmp_path_factory.mktemp("video") / "drive.webm")


@pytest.fixture(scope="module")
def counted_server(segmenter) -> Iterator[tuple[BackgroundServer, SegmentCounter]]:
    counter = SegmentCounter(create_app(segmenter))
    with BackgroundServer(counter) as server:
        yield server, counter


def health(url: str) -> dict:
    return httpx.get(f"{url}/api/health", timeout=5, trust_env=False).json()


def live_data(page) -> dict:
    return page.evaluate("() => ({...document.getElementById('live').dataset})")


def wait_frames(page, at_least: int, timeout: float = 30_000) -> None:
    page.wait_for_function("(n) => Number(document.getElementById('live').dataset.frames) >= n", arg=at_least,
                           timeout=timeout)


def assert_nothing_in_flight(page, url: str, counter: SegmentCounter | None = None, within: float = 2.0) -> None:
    """The page's counter, the server's queue and (if given) the requests in progress all reach 0."""
    deadline = time.monotonic() + within
    while True:
        state = health(url)
        idle = (live_data(page)["inFlight"] == "0" and state["queued"] == 0 and state["admitted"] == 0
                and (counter is None or counter.now == 0))
        if idle:
            return
        assert time.monotonic() < deadline, f"still in flight {within} s after stopping: page " \
                                            f"{live_data(page)}, server {state}"
        time.sleep(0.05)


def wait_live_state(page, state: str, timeout: float = 15_000) -> None:
    """Wait for live mode to reach ``state``; on a timeout, say where it is and what the page showed."""
    try:
        page.wait_for_selector(f"#live[data-state={state}]", timeout=timeout)
    except Exception as error:
        shown = page.evaluate("() => ({body: document.body.dataset.state, live: {...document.getElementById('live')"
                              ".dataset}, error: document.getElementById('error').textContent, "
                              "status: document.getElementById('status').textContent})")
        raise AssertionError(f"live mode did not reach {state!r} in {timeout / 1000:.0f} s: {shown}") from error


def test_video_is_segmented_live_until_it_ends(browser, counted_server, video, tmp_path):
    server, counter = counted_server
    context, page, errors = open_ready_page(browser, server.url)
    try:
        page.set_input_files("#file", str(video))
        wait_live_state(page, "running")
        assert page.locator("#results").is_hidden()
        canvas = page.evaluate("() => [document.getElementById('live-canvas').width, "
                               "document.getElementById('live-canvas').height]")
        assert canvas == [160, 120]  # drawn at the video's own size

        page.fill("#opacity", "100")  # the overlay is then the labels alone: a change is a change of labels
        wait_frames(page, 2)
        first = canvas_pixels(page, "live-canvas")
        frames = int(live_data(page)["frames"])
        wait_frames(page, frames + 3)
        later = canvas_pixels(page, "live-canvas")
        assert (first != later).any(axis=-1).mean() > 0.01, "the overlay did not change as the video moved"

        fps = float(page.inner_text("#live-fps"))
        assert fps > 0 and float(live_data(page)["fps"]) > 0
        assert float(page.inner_text("#live-latency")) > 0  # the model's time, from Server-Timing
        assert "frames/s" in page.inner_text("#timing")
        shares = [float(t.rstrip("%")) for t in page.locator("#legend .share").all_inner_texts()]
        assert sum(shares) == pytest.approx(100, abs=0.6)  # the legend follows the frames

        # The 3 s video ends by itself; what was sent last is answered and nothing more is sent.
        page.wait_for_selector("#live[data-state=stopped]", timeout=30_000)
        assert "Video ended" in page.inner_text("#status")
        assert_nothing_in_flight(page, server.url, counter)
        total = counter.total
        time.sleep(0.5)
        assert counter.total == total
        assert counter.most == 1, "more than one frame was in flight at once"
        print(f"live video: {live_data(page)['frames']} frames, last {fps:.1f} frames/s, "
              f"model {page.inner_text('#live-latency')} ms")

        # The last frame stays on screen and downloads as shown.
        with page.expect_download() as download:
            page.click("#download-overlay")
        saved = tmp_path / "overlay.png"
        download.value.save_as(saved)
        from PIL import Image
        np.testing.assert_array_equal(np.asarray(Image.open(saved).convert("RGB")), canvas_pixels(page, "live-canvas"))

        page.set_viewport_size({"width": 390, "height": 844})  # live view fits a phone
        assert page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_stop_leaves_nothing_in_flight(browser, counted_server, video):
    server, counter = counted_server
    context, page, errors = open_ready_page(browser, server.url)
    try:
        page.check("#live-loop")  # loops: only Stop ends it
        page.set_input_files("#file", str(video))
        wait_frames(page, 3)
        page.click("#live-stop")
        assert live_data(page)["state"] == "stopped"
        assert_nothing_in_flight(page, server.url, counter)
        frames, total = live_data(page)["frames"], counter.total
        time.sleep(1.0)
        assert live_data(page)["frames"] == frames and counter.total == total  # nothing sent after Stop
        assert page.evaluate("() => document.getElementById('live-video').paused")
        assert "Stopped" in page.inner_text("#status")
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# createImageBitmap refuses the video's first FAILS frames as a slow decoder makes it do ("The
# image source is not usable": the frame is announced before it can be read), then reads them.
UNUSABLE_FRAMES = """
const read = window.createImageBitmap.bind(window);
window.unusableCalls = 0;
window.createImageBitmap = (source, ...rest) => source instanceof HTMLVideoElement && ++window.unusableCalls <= FAILS
  ? Promise.reject(new DOMException("The image source is not usable.", "InvalidStateError"))
  : read(source, ...rest);
"""


def test_a_frame_not_yet_readable_is_waited_for(browser, counted_server, video):
    server, _ = counted_server
    context, page, errors = open_ready_page(browser, server.url, init_script=UNUSABLE_FRAMES.replace("FAILS", "3"))
    try:
        page.set_input_files("#file", str(video))
        wait_frames(page, 2)
        assert page.evaluate("() => window.unusableCalls") >= 5  # 3 refused, then read
        assert page.locator("#error").is_hidden()
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_a_video_that_never_becomes_readable_is_reported(browser, counted_server, video):
    server, counter = counted_server
    context, page, errors = open_ready_page(browser, server.url, init_script=UNUSABLE_FRAMES.replace("FAILS", "1e9"))
    try:
        page.check("#live-loop")  # only the failure can end it
        page.set_input_files("#file", str(video))
        page.wait_for_selector("#error:not([hidden])", timeout=20_000)
        assert "Live mode failed" in page.inner_text("#error") and "not usable" in page.inner_text("#error")
        assert live_data(page)["state"] == "stopped" and live_data(page)["frames"] == "0"
        assert page.evaluate("() => window.unusableCalls") == 51  # MAX_UNUSABLE_FRAMES waits, then the report
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_busy_server_is_waited_for_not_hammered(browser, segmenter, video, make_image, monkeypatch):
    # The model is held by another client and the queue holds one: every frame the page sends is
    # refused with 503 + Retry-After until the model is released.
    release = threading.Event()
    holding = CountingPredict(segmenter.label, hold=release)
    monkeypatch.setattr(segmenter, "label", holding)
    with BackgroundServer(create_app(segmenter, max_queue=1)) as server, ThreadPoolExecutor(1) as pool:
        context, page, errors = open_ready_page(browser, server.url)
        sent: list[float] = []
        page.on("request", lambda request: sent.append(time.monotonic()) if "/api/segment" in request.url else None)
        try:
            other = pool.submit(httpx.post, f"{server.url}/api/segment", content=make_image(),
                                headers={"content-type": "image/png"}, timeout=60, trust_env=False)
            assert holding.entered.wait(20)
            page.check("#live-loop")
            page.set_input_files("#file", str(video))
            page.wait_for_selector("#live[data-state=waiting]", timeout=15_000)
            assert "Server busy" in page.inner_text("#status")
            page.wait_for_timeout(3500)  # (not time.sleep: Playwright delivers the request events meanwhile)
            refused = list(sent)
            assert 1 <= len(refused) <= 4, f"{len(refused)} frames sent in 3.5 s to a busy server"
            assert all(b - a >= 0.9 for a, b in zip(refused, refused[1:])), "Retry-After was not waited"
            assert health(server.url)["refused"] == len(refused)
        finally:
            release.set()
        try:
            assert other.result().status_code == 200
            wait_frames(page, 2, timeout=30_000)  # the page comes back once the server has room
            page.click("#live-stop")
            assert_nothing_in_flight(page, server.url)
        finally:
            context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def camera_browser(browser, chromium):
    """Chromium with its fake camera (an animated test pattern) and the permission prompt auto-accepted.

    Launched from the session browser's Playwright: a second sync Playwright cannot run beside it.
    """
    instance = browser.browser_type.launch(executable_path=str(chromium), headless=True,
                                           args=CHROMIUM_ARGS + FAKE_CAMERA_ARGS)
    yield instance
    instance.close()


def test_webcam_is_segmented_live(camera_browser, counted_server):
    server, counter = counted_server
    context, page, errors = open_ready_page(camera_browser, server.url, permissions=["camera"])
    try:
        page.click("#webcam")
        wait_live_state(page, "running")
        assert page.inner_text("#live-source") == "webcam"
        page.fill("#opacity", "40")
        wait_frames(page, 2)
        first = canvas_pixels(page, "live-canvas")
        wait_frames(page, int(live_data(page)["frames"]) + 3)
        assert (canvas_pixels(page, "live-canvas") != first).any()  # the fake camera's pattern moves
        assert float(live_data(page)["fps"]) > 0
        page.click("#live-stop")
        assert_nothing_in_flight(page, server.url, counter)
        assert page.evaluate("() => document.getElementById('live-video').srcObject === null")  # camera released
        assert counter.most == 1
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
