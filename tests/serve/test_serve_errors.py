"""Bad uploads get a 4xx JSON error naming the problem, and the server keeps serving."""

from __future__ import annotations

import struct
import time
import zlib

import pytest


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds (almost) no pixel data: a decompression bomb shape."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def assert_still_serving(client, make_image) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    response = client.post("/api/segment", files={"file": ("ok.png", make_image(24, 32), "image/png")})
    assert response.status_code == 200


def post_raw(client, data: bytes, content_type: str = "image/png", url: str = "/api/segment"):
    return client.post(url, content=data, headers={"content-type": content_type})


CASES = {
    # name: (request maker, expected status, words the message must contain)
    "text file as upload": (lambda c, img: c.post("/api/segment", files={"file": ("a.txt", b"hi", "text/plain")}),
                            415, "not a recognised image"),
    "text body": (lambda c, img: post_raw(c, b"hello", "text/plain"), 415, "not an image"),
    "json body": (lambda c, img: post_raw(c, b'{"a": 1}', "application/json"), 415, "multipart"),
    "garbage with image type": (lambda c, img: post_raw(c, b"\x00garbage" * 50), 415, "not a recognised image"),
    "truncated png": (lambda c, img: post_raw(c, img(48, 64)[:-500]), 400, "truncated"),
    "truncated jpeg": (lambda c, img: post_raw(c, img(48, 64, "JPEG")[:-100], "image/jpeg"), 400, "truncated"),
    "jpeg cut in its header": (lambda c, img: post_raw(c, img(48, 64, "JPEG")[:300], "image/jpeg"), 400, "truncated"),
    "empty body": (lambda c, img: post_raw(c, b""), 400, "empty upload"),
    "empty file field": (lambda c, img: c.post("/api/segment", files={"file": ("e.png", b"", "image/png")}),
                         400, "empty upload"),
    "no file field": (lambda c, img: c.post("/api/segment", files={"image": ("a.png", img(), "image/png")}),
                      400, "no file field named 'file'"),
    "malformed multipart": (lambda c, img: post_raw(c, b"--x\r\nbroken", "multipart/form-data"), 400, "multipart"),
    "bad format option": (lambda c, img: post_raw(c, img(), url="/api/segment?format=gif"), 422, "format"),
    "huge declared size": (lambda c, img: post_raw(c, png_header_only(50_000, 50_000)), 413, "pixels"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_json_error(client, make_image, case):
    make_request, status, words = CASES[case]
    response = make_request(client, make_image)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and words in detail
    assert_still_serving(client, make_image)


def test_byte_limit(make_client, make_image):
    data = make_image(64, 64)  # ~12 KiB of noisy PNG
    large = make_image(200, 200)  # ~120 KiB: past the multipart allowance too
    with make_client(max_bytes=4000) as client:
        for response in (
            post_raw(client, data),  # refused on Content-Length alone
            post_raw(client, iter([data[:3000], data[3000:]])),  # chunked, no length: refused while reading
            client.post("/api/segment", files={"file": ("big.png", data, "image/png")}),  # file part too big
            client.post("/api/segment", files={"file": ("big.png", large, "image/png")}),  # body too big
        ):
            assert response.status_code == 413
            assert "upload limit of 3.9 KiB" in response.json()["detail"]
        assert post_raw(client, make_image(8, 8)).status_code == 200


def test_pixel_limit_checked_from_header(make_client, make_image):
    with make_client(max_pixels=50 * 50) as client:
        response = post_raw(client, make_image(60, 50))
        assert response.status_code == 413
        assert "50x60 = 3000 pixels, over the limit of 2500" in response.json()["detail"]
        assert post_raw(client, make_image(50, 50)).status_code == 200
        # A 2-gigapixel canvas in a few hundred bytes is refused without decoding it.
        start = time.perf_counter()
        response = post_raw(client, png_header_only(40_000, 50_000))
        assert response.status_code == 413 and time.perf_counter() - start < 2


def test_pil_decompression_bomb_guard(make_client):
    # With our own limit lifted, PIL's bomb check (2x its MAX_IMAGE_PIXELS) must still answer 413.
    with make_client(max_pixels=10**12) as client:
        response = post_raw(client, png_header_only(40_000, 50_000))
        assert response.status_code == 413
        assert "decompression bomb" in response.json()["detail"]
        assert client.get("/api/health").status_code == 200
