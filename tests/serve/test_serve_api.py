"""The JSON API against the model called directly: labels, colours, shares, model, samples, schema."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from segnet.data import CAMVID
from segnet.serve import create_app
from segnet.serve.app import MAX_SAMPLES, list_samples


def decode_png(data: bytes | str) -> np.ndarray:
    raw = base64.b64decode(data) if isinstance(data, str) else data
    image = Image.open(io.BytesIO(raw))
    assert image.format == "PNG"
    return np.asarray(image)


def test_segment_json_matches_direct_prediction(client, segmenter, make_image):
    data = make_image(48, 64)
    response = client.post("/api/segment", files={"file": ("street.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = segmenter.label(Image.open(io.BytesIO(data)))
    assert len(np.unique(expected)) > 2  # the tiny model's labels vary, so equality is a real check

    labels = decode_png(body["labels_png"])
    assert (body["width"], body["height"]) == (64, 48)
    assert labels.dtype == np.uint8 and labels.shape == (48, 64)
    np.testing.assert_array_equal(labels, expected)
    np.testing.assert_array_equal(decode_png(body["color_png"]), np.asarray(CAMVID.colors, np.uint8)[expected])

    # Shares: percent of pixels per class name, counted here with numpy independently.
    assert list(body["shares"]) == list(CAMVID.names)
    for index, name in enumerate(CAMVID.names):
        assert body["shares"][name] == pytest.approx(100 * np.sum(expected == index) / expected.size, abs=1e-3)
    assert sum(body["shares"].values()) == pytest.approx(100, abs=0.01)

    timing = body["timing_ms"]
    assert {"decode", "inference", "encode", "total"} <= set(timing)
    assert all(v >= 0 for v in timing.values())
    assert timing["total"] >= timing["inference"]


def test_segment_raw_jpeg_body(client, segmenter, make_image):
    data = make_image(40, 56, "JPEG", seed=3)
    response = client.post("/api/segment", content=data, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    expected = segmenter.label(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(decode_png(response.json()["labels_png"]), expected)


def test_segment_format_png_returns_colour_image(client, segmenter, make_image):
    data = make_image(30, 50, seed=4)
    response = client.post("/api/segment?format=png", files={"file": ("x.png", data, "image/png")})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert "inference;dur=" in response.headers["server-timing"]
    expected = segmenter.label(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(decode_png(response.content), segmenter.colorize(expected))


def test_segment_format_labels_returns_class_indices(client, segmenter, make_image):
    # The live page's per-frame call: the raw labels, coloured in the page so classes can be hidden.
    data = make_image(36, 52, "JPEG", seed=5)
    response = client.post("/api/segment?format=labels", content=data, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert "inference;dur=" in response.headers["server-timing"]
    labels = decode_png(response.content)
    assert labels.dtype == np.uint8 and labels.shape == (36, 52)
    np.testing.assert_array_equal(labels, segmenter.label(Image.open(io.BytesIO(data))))
    assert client.post("/api/segment?format=gif", content=data,
                       headers={"content-type": "image/jpeg"}).status_code == 422


def test_exif_orientation_is_applied(client, make_image):
    # A camera JPEG stored landscape but tagged "rotate 90": browsers show it portrait, so must we.
    image = Image.open(io.BytesIO(make_image(30, 50)))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    response = client.post("/api/segment", content=buffer.getvalue(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 200
    assert (response.json()["width"], response.json()["height"]) == (30, 50)


def test_health_and_model(client, segmenter):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["model"] == "segnet_basic" and health["queued"] == 0
    model = client.get("/api/model").json()
    assert model["name"] == segmenter.spec.name
    assert model["num_classes"] == 11
    assert [c["name"] for c in model["classes"]] == list(CAMVID.names)
    assert [tuple(c["color"]) for c in model["classes"]] == list(CAMVID.colors)
    assert model["input_size"] == [64, 80]
    # auto, uncalibrated checkpoint: never int8, and what the page reports is what runs
    assert model["precision"] == segmenter.precision and model["precision"] in ("fp32", "bf16")
    assert model["limits"] == {"max_bytes": 20 * 1024 * 1024, "max_pixels": 4096 * 4096, "max_queue": 8,
                               "body_timeout_s": 10.0}


def test_samples_listed_and_served(client, samples_dir):
    listing = client.get("/api/samples").json()
    assert [s["name"] for s in listing] == ["street_a.png", "street_b.jpg"]  # notes.txt is no image
    for sample in listing:
        response = client.get(sample["url"])
        assert response.status_code == 200
        assert response.content == (samples_dir / sample["name"]).read_bytes()
    for name in ("notes.txt", "missing.png", "..%2Fsecret.png"):
        response = client.get(f"/api/samples/{name}")
        assert response.status_code == 404 and "detail" in response.json()


def test_samples_are_spread_across_sequences(tmp_path):
    # CamVid-like names: neighbouring frames of a drive are near-duplicates, so take a few from each
    # drive, evenly spaced, and alternate drives; a short drive gives its spare slots to the others.
    sequences = {"0001TP": [f"0001TP_{i:06d}.png" for i in range(0, 600, 30)],
                 "0006R0": [f"0006R0_f{i:05d}.png" for i in range(0, 900, 30)],
                 "0016E5": [f"0016E5_{i:05d}.png" for i in range(0, 1200, 30)],
                 "Seq05VD": ["Seq05VD_f00000.png", "Seq05VD_f00030.png"]}
    for names in sequences.values():
        for name in names:
            (tmp_path / name).write_bytes(b"")
    picked = list_samples(tmp_path)
    assert len(picked) == MAX_SAMPLES == len(set(picked))
    # slots dealt round-robin: 4 + 3 + 3 + 2 (Seq05VD has only 2); each pick is the middle of an equal run
    assert picked[:4] == ["0001TP_000060.png", "0006R0_f00150.png", "0016E5_00180.png", "Seq05VD_f00000.png"]
    counts = {seq: sum(name.startswith(seq) for name in picked) for seq in sequences}
    assert counts == {"0001TP": 4, "0006R0": 3, "0016E5": 3, "Seq05VD": 2}
    for seq, names in sequences.items():  # evenly spaced within the drive, in order
        chosen = [names.index(n) for n in picked if n.startswith(seq)]
        assert chosen == sorted(chosen)
        if len(chosen) > 2:
            gaps = np.diff(chosen)
            assert gaps.max() - gaps.min() <= 1 and chosen[0] > 0 and chosen[-1] < len(names) - 1
    assert list_samples(tmp_path) == picked  # stable
    assert list_samples(tmp_path, limit=3) == ["0001TP_000300.png", "0006R0_f00450.png", "0016E5_00600.png"]


def test_no_samples_folder(make_client):
    with make_client() as client:
        assert client.get("/api/samples").json() == []
        assert client.get("/api/samples/a.png").status_code == 404


def test_missing_samples_folder_is_a_clear_error(segmenter, tmp_path):
    with pytest.raises(FileNotFoundError, match="samples folder not found"):
        create_app(segmenter, samples_dir=tmp_path / "nope")


def test_page_static_files_and_openapi(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text
    for asset in ("/static/app.js", "/static/live.js", "/static/labels.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "javascript" in client.get("/static/live.js").headers["content-type"]  # modules need a JS type
    assert "cdn" not in page.text.lower()
    # Swagger UI and ReDoc would load their scripts from a CDN: they are not served, nor linked.
    for path in ("/docs", "/redoc"):
        assert client.get(path).status_code == 404
        assert f'href="{path}' not in page.text
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/segment"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/*" in body
    assert {"/api/health", "/api/model", "/api/samples"} <= set(schema["paths"])
