"""Fixtures of the web demo tests: a tiny model, sample frames, an in-process client, a live server."""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.checkpoint import atomic_save, make_checkpoint
from segnet.data import CAMVID, IMAGENET_MEAN, IMAGENET_STD
from segnet.inference import Segmenter
from segnet.serve import create_app
from segnet.serve.background import BackgroundServer

with warnings.catch_warnings():  # newer Starlette nags about httpx at import; not our concern here
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def open_ready_page(browser, url: str, width: int = 1366, height: int = 900, route=None, timeout: float = 15_000,
                    init_script: str | None = None, **context_options):
    """A new browser context and page on the demo, once it says it is ready; returns (context, page,
    errors), errors collecting the page's JavaScript errors. ``route`` intercepts every request;
    ``init_script`` runs in the page before its own scripts."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    if route is not None:
        context.route("**/*", route)
    if init_script is not None:
        context.add_init_script(init_script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=timeout)
    return context, page, errors


def encode(array: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A road-like picture: blue sky band, grey road, a red box and noise (HxWx3 uint8)."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), dtype=np.float64)
    image[: height // 3] = (70, 130, 220)
    image[height // 3:] = (120, 120, 120)
    image[height // 2: height // 2 + height // 5, width // 4: width // 2] = (200, 40, 40)
    image += rng.normal(0, 20, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def make_image() -> Callable[..., bytes]:
    """make_image(height, width, fmt='PNG', seed=0) -> encoded file bytes of a small scene."""
    return lambda height=48, width=64, fmt="PNG", seed=0: encode(scene(height, width, seed), fmt)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = segnet.create_model("segnet_basic", 11)
    # Untrained BN statistics give near-constant logits (one class everywhere); small running
    # variances amplify the random features so labels vary and label comparisons mean something.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_var.fill_(0.05)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    atomic_save(make_checkpoint(model, CAMVID, IMAGENET_MEAN, IMAGENET_STD, (64, 80)), path)
    return path


@pytest.fixture(scope="session")
def segmenter(tiny_checkpoint) -> Segmenter:
    return segnet.load(tiny_checkpoint, tta="none")  # as `segnet serve` runs it: one pass per frame


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("samples")
    (folder / "street_a.png").write_bytes(encode(scene(60, 80, 1)))
    (folder / "street_b.jpg").write_bytes(encode(scene(60, 80, 2), "JPEG"))
    (folder / "notes.txt").write_text("not a sample")
    return folder


@pytest.fixture
def client(segmenter, samples_dir) -> Iterator[TestClient]:
    with TestClient(create_app(segmenter, samples_dir=samples_dir)) as test_client:
        yield test_client


@pytest.fixture
def make_client(segmenter) -> Callable[..., TestClient]:
    """make_client(**create_app options) -> a TestClient of an app with other limits."""
    return lambda **options: TestClient(create_app(segmenter, **options))


@pytest.fixture(scope="module")
def live_server(segmenter, samples_dir) -> Iterator[BackgroundServer]:
    """uvicorn on 127.0.0.1 at a free port, in a thread of the test process (shares `segmenter`)."""
    with BackgroundServer(create_app(segmenter, samples_dir=samples_dir)) as server:
        yield server


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt-get on first use where missing."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None:
            pytest.skip(f"{CHROMIUM} is missing and there is no apt-get to install it")
        result = subprocess.run("apt-get update && apt-get install -y chromium", shell=True,
                                capture_output=True, text=True, env={"DEBIAN_FRONTEND": "noninteractive",
                                                                     "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        if result.returncode != 0 or not CHROMIUM.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"could not install chromium with apt-get (exit {result.returncode}): {tail[0]}")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
