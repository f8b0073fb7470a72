"""The demo page in headless Chromium against a live server: upload, overlay, legend, errors."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segnet.data import CAMVID

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=15_000)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def canvas_pixels(page, canvas_id: str) -> np.ndarray:
    # Base64, not a JSON array: a 640x480 canvas as 1.2 M numbers took 14 s to cross on 2 cores.
    width, height, data = page.evaluate(
        """(id) => { const c = document.getElementById(id);
                     const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                     let text = '';
                     for (let i = 0; i < d.length; i += 0x8000)
                       text += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
                     return [c.width, c.height, btoa(text)]; }""", canvas_id)
    return np.frombuffer(base64.b64decode(data), dtype=np.uint8).reshape(height, width, 4)[..., :3]


def test_upload_shows_segmentation_overlay_and_legend(page, segmenter, make_image):
    data = make_image(60, 80, seed=7)
    legend = page.locator("#legend .name").all_inner_texts()
    assert legend == list(CAMVID.names)

    page.set_input_files("#file", files=[{"name": "street.png", "mimeType": "image/png", "buffer": data}])
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert "street.png: 80×60 px" in page.inner_text("#status")

    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    colour = segmenter.colorize(segmenter.label(image))
    np.testing.assert_array_equal(canvas_pixels(page, "color-canvas"), colour)
    np.testing.assert_array_equal(canvas_pixels(page, "input-canvas"), image)

    # The overlay is blended in the page: the slider's ends are the input and the colours.
    page.fill("#opacity", "0")
    np.testing.assert_array_equal(canvas_pixels(page, "overlay-canvas"), image)
    page.fill("#opacity", "100")
    np.testing.assert_array_equal(canvas_pixels(page, "overlay-canvas"), colour)
    page.fill("#opacity", "50")
    half = canvas_pixels(page, "overlay-canvas").astype(int)
    assert np.abs(half - (image.astype(int) + colour) / 2).max() <= 2
    assert page.inner_text("#opacity-value") == "50%"

    shares = [float(text.rstrip("%")) for text in page.locator("#legend .share").all_inner_texts()]
    assert len(shares) == 11 and sum(shares) == pytest.approx(100, abs=0.6)
    assert "ms" in page.inner_text("#timing") and "inference" in page.inner_text("#timing")

    page.hover("#overlay-canvas")
    assert any(name in page.inner_text("#hover") for name in CAMVID.names)

    page.fill("#opacity", "60")
    page.locator("#opacity").blur()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "serve_page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")


def test_sample_frame_can_be_picked(page):
    buttons = page.locator("#samples button")
    page.wait_for_selector("#samples button >> nth=1", timeout=15_000)  # the list loads after the page
    assert buttons.count() == 2
    buttons.nth(1).click()
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert "street_b.jpg" in page.inner_text("#status")


def test_bad_upload_shows_the_server_message(page, make_image):
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    page.wait_for_selector("body[data-state=error]", timeout=30_000)
    assert "not a recognised image" in page.inner_text("#error")
    assert "HTTP 415" in page.inner_text("#error")
    page.set_input_files("#file", files=[{"name": "ok.png", "mimeType": "image/png", "buffer": make_image()}])
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert page.locator("#error").is_hidden()
