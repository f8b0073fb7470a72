"""Against a real uvicorn server: concurrent requests queue for the model, and the server stays responsive."""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from PIL import Image


class CountingPredict:
    """Wraps `Segmenter.label` to record how many calls ever ran at once; can hold calls back."""

    def __init__(self, predict, hold: threading.Event | None = None) -> None:
        self.predict, self.hold = predict, hold
        self.active = self.most = self.calls = 0
        self.lock = threading.Lock()
        self.entered = threading.Event()

    def __call__(self, image, *args, **kwargs):
        with self.lock:
            self.active += 1
            self.calls += 1
            self.most = max(self.most, self.active)
        self.entered.set()
        try:
            if self.hold is not None:
                assert self.hold.wait(20), "test never released the model"
            return self.predict(image, *args, **kwargs)
        finally:
            with self.lock:
                self.active -= 1


def test_burst_of_concurrent_requests_all_succeed(live_server, segmenter, make_image, monkeypatch):
    counting = CountingPredict(segmenter.label)
    monkeypatch.setattr(segmenter, "label", counting)
    images = [make_image(32, 40, seed=i) for i in range(8)]
    expected = [counting.predict(Image.open(io.BytesIO(data))) for data in images]

    def post(data: bytes) -> httpx.Response:
        return httpx.post(f"{live_server.url}/api/segment", files={"file": ("x.png", data, "image/png")},
                          timeout=60, trust_env=False)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, images))
    assert [r.status_code for r in responses] == [200] * 8
    for response, labels in zip(responses, expected):
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(response.json()["labels_png"]))))
        np.testing.assert_array_equal(got, labels)  # each answer belongs to its own request
    assert counting.calls == 8
    assert counting.most == 1  # torch calls were serialised


def test_server_answers_while_the_model_is_busy(live_server, segmenter, make_image, monkeypatch):
    release = threading.Event()
    counting = CountingPredict(segmenter.label, hold=release)
    monkeypatch.setattr(segmenter, "label", counting)
    url = f"{live_server.url}/api/segment"
    with ThreadPoolExecutor(2) as pool:
        try:
            post = dict(content=make_image(), headers={"content-type": "image/png"}, timeout=60, trust_env=False)
            first = pool.submit(httpx.post, url, **post)
            second = pool.submit(httpx.post, url, **post)
            assert counting.entered.wait(20)
            # Inference is stuck, yet the event loop answers at once and reports the waiting images.
            deadline = time.monotonic() + 10
            while httpx.get(f"{live_server.url}/api/health", timeout=5, trust_env=False).json()["queued"] < 2:
                assert time.monotonic() < deadline, "the second request never reached the queue"
                time.sleep(0.05)
            assert httpx.get(f"{live_server.url}/api/model", timeout=5, trust_env=False).status_code == 200
            assert not first.done() and not second.done()
        finally:
            release.set()
        assert first.result().status_code == 200 and second.result().status_code == 200
    assert counting.most == 1
    assert httpx.get(f"{live_server.url}/api/health", timeout=5, trust_env=False).json()["queued"] == 0
