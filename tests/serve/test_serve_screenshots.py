"""The README's screenshots of the demo page: SEGNET_SCREENSHOTS=1 pytest tests/serve/test_serve_screenshots.py.

Runs the shipped model on CamVid's val frames (``SEGNET_CAMVID``, default ../shared/camvid) and
writes docs/serve/page-desktop.png (1366 px, a still image), page-phone.png (390 px, the whole
page) and page-live.png (1366 px, live mode on a video made of the val frames). The live run's
frames/s and model latency are printed: they are the figures the README quotes, on this machine.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import segnet
from segnet.serve import create_app
from segnet.serve.background import BackgroundServer

from conftest import open_ready_page

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "serve"
CAMVID = Path(os.environ.get("SEGNET_CAMVID", ROOT.parent / "shared" / "camvid"))
MAX_BYTES = 300 * 1024

pytestmark = pytest.mark.skipif(os.environ.get("SEGNET_SCREENSHOTS") != "1",
                                reason="writes docs/serve/*.png; set SEGNET_SCREENSHOTS=1 to run")


def save_small(png: bytes, path: Path) -> None:
    """The screenshot as PNG under MAX_BYTES: full colour if it fits, else a 256-colour palette."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.save(path, optimize=True)
    if path.stat().st_size > MAX_BYTES:
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    assert path.stat().st_size <= MAX_BYTES, f"{path} is {path.stat().st_size} bytes"
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def write_drive(frames: list[Path], path: Path, fps: int = 15) -> Path:
    """The val frames as a VP8 WebM: CamVid's val images are every other frame of a 30 fps drive."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        first = Image.open(frames[0])
        stream.width, stream.height, stream.pix_fmt = first.width, first.height, "yuv420p"
        stream.bit_rate = 2_000_000
        for frame in frames:
            array = np.asarray(Image.open(frame).convert("RGB"))
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def val_server():
    val = CAMVID / "val"
    if not val.is_dir():
        pytest.skip(f"{val} not found; set SEGNET_CAMVID")
    # As `segnet serve` runs it: the shipped model, precision auto, one pass per frame.
    with BackgroundServer(create_app(segnet.load(None, tta="none"), samples_dir=val)) as server:
        yield server, val


def ready_page(browser, url: str, width: int, height: int):
    context, page, _ = open_ready_page(browser, url, width, height, timeout=30_000)
    page.wait_for_selector("#samples img >> nth=11", timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('#samples img')]"  # lazy: those in view
                           ".every((i) => i.complete || i.getBoundingClientRect().left >= innerWidth)")
    return context, page


@pytest.mark.parametrize("width, height, name, full_page", [(1366, 900, "page-desktop.png", False),
                                                             (390, 844, "page-phone.png", True)])
def test_still_image_screenshots(browser, val_server, width, height, name, full_page):
    server, _ = val_server
    context, page = ready_page(browser, server.url, width, height)
    try:
        page.locator("#samples button").nth(5).click()
        page.wait_for_selector("body[data-state=done]", timeout=30_000)
        page.mouse.move(0, 0)
        save_small(page.screenshot(full_page=full_page), DOCS / name)
    finally:
        context.close()


def test_live_screenshot_and_speed(browser, val_server, tmp_path):
    server, val = val_server
    video = write_drive(sorted(val.glob("*.png")), tmp_path / "camvid_val.webm")
    context, page = ready_page(browser, server.url, 1366, 900)
    try:
        page.check("#live-loop")
        page.set_input_files("#file", str(video))
        page.wait_for_selector("#live[data-state=running]", timeout=30_000)
        page.wait_for_timeout(8000)  # several 2 s windows: the figures shown are a steady state
        fps, latency = page.inner_text("#live-fps"), page.inner_text("#live-latency")
        trip, frames = page.inner_text("#live-roundtrip"), page.inner_text("#live-frames")
        save_small(page.screenshot(), DOCS / "page-live.png")
        page.click("#live-stop")
        print(f"live, 480x360 video at 15 frames/s: {fps} frames/s, model {latency} ms, round trip {trip} ms, "
              f"{frames} frames in ~8 s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        assert float(fps) > 0
    finally:
        context.close()
