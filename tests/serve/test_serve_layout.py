"""The still-image page in headless Chromium: fits 390-1920 px, class toggles, downloads, errors, offline."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segnet.serve import create_app
from segnet.serve.background import BackgroundServer

from conftest import encode, open_ready_page, scene
from test_serve_browser import canvas_pixels

VIEWPORTS = {"phone": (390, 844), "laptop": (1366, 900), "desktop": (1920, 1080)}
OLD_CANVAS_WIDTH = 349  # what each result canvas got on a 1920 screen before the layout fitted it


@pytest.fixture(scope="module")
def camvid_like_samples(tmp_path_factory) -> Path:
    """14 full-size frames named like CamVid's, from three drives (more than the page offers)."""
    folder = tmp_path_factory.mktemp("camvid_like")
    names = [f"0001TP_{i:06d}.png" for i in range(6)] + [f"0006R0_f{i:05d}.png" for i in range(5)] + \
            [f"Seq05VD_f{i:05d}.png" for i in range(3)]
    for seed, name in enumerate(names):
        (folder / name).write_bytes(encode(scene(360, 480, seed)))
    return folder


@pytest.fixture(scope="module")
def server(segmenter, camvid_like_samples) -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(segmenter, samples_dir=camvid_like_samples)) as running:
        yield running


@pytest.fixture
def open_page(browser, server):
    """open_page(width, height, route=None) -> a ready page; JavaScript errors fail the test."""
    contexts, errors = [], []

    def opener(width: int = 1366, height: int = 900, route=None):
        context, page, page_errors = open_ready_page(browser, server.url, width, height, route=route,
                                                     accept_downloads=True)
        contexts.append(context)
        errors.append(page_errors)  # the same list the page keeps appending to
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not any(errors), f"JavaScript errors on the page: {errors}"


def upload(page, data: bytes, name: str = "street.png") -> None:
    page.set_input_files("#file", files=[{"name": name, "mimeType": "image/png", "buffer": data}])
    page.wait_for_selector("body[data-state=done]", timeout=30_000)


def widths(page, *ids: str) -> list[float]:
    return page.evaluate("(ids) => ids.map((id) => document.getElementById(id).getBoundingClientRect().width)",
                         list(ids))


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_page_fits_the_screen(open_page, viewport, segmenter):
    width, height = VIEWPORTS[viewport]
    page = open_page(width, height)
    page.wait_for_selector("#samples button >> nth=11", timeout=15_000)
    assert page.locator("#samples button").count() == 12
    upload(page, encode(scene(360, 480, 3)))

    assert page.evaluate("() => document.documentElement.scrollWidth") <= width, "the page scrolls sideways"
    strip = page.evaluate("() => document.getElementById('samples-box').getBoundingClientRect().right")
    assert strip <= width  # the sample strip wraps or scrolls inside its own box
    badge = page.inner_text("#model-badge")
    assert segmenter.precision in badge and "64×80" in badge  # what runs, at which working size

    input_w, color_w, overlay_w = widths(page, "input-canvas", "color-canvas", "overlay-canvas")
    if viewport == "phone":
        assert 300 < min(input_w, color_w, overlay_w) and max(input_w, color_w, overlay_w) <= width
    if viewport == "desktop":  # large screens get large results
        assert overlay_w > 2.5 * OLD_CANVAS_WIDTH and min(input_w, color_w) > 1.3 * OLD_CANVAS_WIDTH


def test_samples_are_varied(open_page):
    page = open_page()
    page.wait_for_selector("#samples button >> nth=11", timeout=15_000)
    names = page.locator("#samples button").evaluate_all("(buttons) => buttons.map((b) => b.dataset.name)")
    assert [name.split("_")[0] for name in names[:3]] == ["0001TP", "0006R0", "Seq05VD"]  # drives take turns
    assert len(set(names)) == 12


def test_class_toggle_shows_the_photo_under_that_class(open_page, segmenter):
    page = open_page()
    data = encode(scene(60, 80, 11))
    upload(page, data)
    image = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    labels = segmenter.label(image)
    colour = segmenter.colorize(labels)
    values, counts = np.unique(labels, return_counts=True)
    assert len(values) > 1
    hidden = int(values[np.argmax(counts)])  # the most common class, so the check covers many pixels

    page.fill("#opacity", "100")
    np.testing.assert_array_equal(canvas_pixels(page, "overlay-canvas"), colour)
    button = page.locator(f"#legend li[data-index='{hidden}'] button")
    button.click()
    assert button.get_attribute("aria-pressed") == "false"
    expected = np.where((labels == hidden)[..., None], image, colour)
    np.testing.assert_array_equal(canvas_pixels(page, "overlay-canvas"), expected)
    np.testing.assert_array_equal(canvas_pixels(page, "color-canvas"), colour)  # the mask itself stays whole
    page.fill("#opacity", "50")  # the toggle holds while the opacity moves
    half = canvas_pixels(page, "overlay-canvas")
    np.testing.assert_array_equal(half[labels == hidden], image[labels == hidden])
    button.click()
    page.fill("#opacity", "100")
    np.testing.assert_array_equal(canvas_pixels(page, "overlay-canvas"), colour)


def test_downloads_are_the_canvases_as_png(open_page, segmenter, tmp_path):
    page = open_page()
    upload(page, encode(scene(60, 80, 12)), name="crossing.png")
    page.locator("#legend li[data-index='3'] button").click()  # the overlay download is what is shown
    for link, canvas in (("#download-mask", "color-canvas"), ("#download-overlay", "overlay-canvas")):
        with page.expect_download() as download:
            page.click(link)
        assert download.value.suggested_filename == f"crossing-{link.split('-')[1]}.png"
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        saved = Image.open(path)
        assert saved.format == "PNG" and saved.size == (80, 60)
        np.testing.assert_array_equal(np.asarray(saved.convert("RGB")), canvas_pixels(page, canvas))


def test_an_error_clears_the_previous_result(open_page):
    page = open_page()
    upload(page, encode(scene(60, 80, 13)))
    assert page.locator("#results").is_visible()
    page.set_input_files("#file", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    page.wait_for_selector("body[data-state=error]", timeout=30_000)
    assert "HTTP 415" in page.inner_text("#error")
    assert page.locator("#results").is_hidden() and page.locator("#toolbar").is_hidden()
    assert widths(page, "input-canvas", "color-canvas", "overlay-canvas") == [0, 0, 0]
    assert set(page.locator("#legend .share").all_inner_texts()) == {"–"}
    assert "ms" not in page.inner_text("#timing")


def test_nothing_leaves_the_machine_and_there_is_no_cdn_docs_page(open_page, server):
    blocked: list[str] = []

    def local_only(route) -> None:
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page = open_page(route=local_only)
    page.wait_for_selector("#samples img >> nth=11", timeout=15_000)
    upload(page, encode(scene(60, 80, 14)))
    links = page.locator("a[href]").evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
    assert "/openapi.json" in links
    assert not [link for link in links if link.startswith(("/docs", "/redoc", "http"))]
    assert page.goto(server.url + "/openapi.json").status == 200
    for path in ("/docs", "/redoc"):  # FastAPI's pages would fetch Swagger UI / ReDoc from a CDN
        assert page.goto(server.url + path).status == 404
    assert not blocked, f"the page tried to reach outside the machine: {blocked}"
