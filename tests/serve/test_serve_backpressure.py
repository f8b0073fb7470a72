"""Load is shed, not piled up: a bounded queue, body time-outs, abandoned work dropped, Host checked."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from segnet.serve import create_app
from segnet.serve.background import BackgroundServer

from test_serve_concurrency import CountingPredict


def _post(url: str, data: bytes, timeout: float = 60) -> httpx.Response:
    return httpx.post(f"{url}/api/segment", content=data, headers={"content-type": "image/png"}, timeout=timeout,
                      trust_env=False)


def _health(url: str) -> dict:
    return httpx.get(f"{url}/api/health", timeout=5, trust_env=False).json()


def test_a_full_queue_answers_503_with_retry_after(segmenter, make_image, monkeypatch):
    release = threading.Event()
    counting = CountingPredict(segmenter.label, hold=release)
    monkeypatch.setattr(segmenter, "label", counting)
    with BackgroundServer(create_app(segmenter, max_queue=1)) as server, ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(_post, server.url, make_image())
            assert counting.entered.wait(20)
            started = time.monotonic()
            second = _post(server.url, make_image())
            assert time.monotonic() - started < 5  # refused at once, not queued
            assert second.status_code == 503
            assert int(second.headers["Retry-After"]) >= 1
            assert "server busy" in second.json()["detail"]
            assert _health(server.url)["refused"] == 1
        finally:
            release.set()
        assert first.result().status_code == 200
        assert _post(server.url, make_image()).status_code == 200  # the slot is free again


def test_work_whose_client_gave_up_is_dropped_unrun(segmenter, make_image, monkeypatch):
    release = threading.Event()
    counting = CountingPredict(segmenter.label, hold=release)
    monkeypatch.setattr(segmenter, "label", counting)
    with BackgroundServer(create_app(segmenter)) as server, ThreadPoolExecutor(1) as pool:
        try:
            first = pool.submit(_post, server.url, make_image())
            assert counting.entered.wait(20)
            with pytest.raises(httpx.TimeoutException):
                _post(server.url, make_image(seed=1), timeout=1.0)  # waits behind the first, then gives up
        finally:
            release.set()
        assert first.result().status_code == 200
        deadline = time.monotonic() + 10
        while _health(server.url)["dropped"] < 1:
            assert time.monotonic() < deadline, "the abandoned image was not dropped"
            time.sleep(0.05)
        assert counting.calls == 1  # the model never ran for the client that left


def test_a_body_that_never_finishes_times_out(segmenter):
    with BackgroundServer(create_app(segmenter, body_timeout=0.5)) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(b"POST /api/segment HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
                         b"Content-Length: 100000\r\n\r\n" + b"\x89PNG" + b"\x00" * 100)
            started = time.monotonic()
            reply = conn.recv(4096).decode("latin-1")
            assert time.monotonic() - started < 5
            while "did not arrive" not in reply and time.monotonic() - started < 5:  # the body may come apart
                chunk = conn.recv(4096).decode("latin-1")
                if not chunk:
                    break
                reply += chunk
        assert reply.startswith("HTTP/1.1 408")
        assert "did not arrive within 0.5 s" in reply
        assert _health(server.url)["admitted"] == 0


def test_host_header_is_checked(segmenter, make_image):
    from fastapi.testclient import TestClient

    client = TestClient(create_app(segmenter, allowed_hosts=["localhost", "127.0.0.1"]))
    assert client.get("/api/health", headers={"host": "127.0.0.1:8000"}).status_code == 200
    assert client.get("/api/health", headers={"host": "rebind.attacker.example"}).status_code == 400
    refused = client.post("/api/segment", content=make_image(), headers={"host": "evil.example",
                                                                         "content-type": "image/png"})
    assert refused.status_code == 400


def test_serve_defaults_to_its_own_names():
    from segnet.cli.serve_cmd import allowed_hosts

    assert "127.0.0.1" in allowed_hosts("127.0.0.1", None) and "localhost" in allowed_hosts("127.0.0.1", None)
    assert "10.1.2.3" in allowed_hosts("10.1.2.3", None)
    assert allowed_hosts("0.0.0.0", None) == ["*"]
    assert allowed_hosts("127.0.0.1", "demo.local, 127.0.0.1") == ["demo.local", "127.0.0.1"]
