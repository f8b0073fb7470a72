"""One corpus of bad image files through every way in: predict, evaluate, train, quantize, the
Python API and the server. Each must answer with one line naming the file (or a 4xx for the
server), exit non-zero where nothing can be done, and never a traceback."""

from __future__ import annotations

import io
import shutil
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.checkpoint import atomic_save, make_checkpoint
from segnet.cli.main import main
from segnet.data import CAMVID, IMAGENET_MEAN, IMAGENET_STD


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _huge_header_png(width: int = 60000, height: int = 60000) -> bytes:
    """A valid PNG signature and IHDR declaring a canvas far too large, with a tiny body."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + data + end


GOOD = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
CORPUS = {
    "empty.png": b"",
    "text.png": b"this is not an image\n",
    "truncated.png": _png_bytes(GOOD)[:200],
    "huge_canvas.png": _huge_header_png(),
}


def _float_tiff(path: Path) -> None:
    Image.fromarray(np.random.default_rng(1).random((48, 64)).astype(np.float32), mode="F").save(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for name, data in CORPUS.items():
        (folder / name).write_bytes(data)
    _float_tiff(folder / "float.tif")
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    atomic_save(make_checkpoint(segnet.create_model("segnet_basic", 11), CAMVID, IMAGENET_MEAN, IMAGENET_STD,
                                (48, 64)), path)
    return path


def _camvid_with(root: Path, bad: Path) -> Path:
    """A CamVid layout of good frames plus one bad image in train and val."""
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(GOOD).save(root / split / f"seq_{i:03d}.png")
            Image.fromarray((np.arange(48 * 64) % 11).astype(np.uint8).reshape(48, 64)).save(
                root / f"{split}annot" / f"seq_{i:03d}.png")
        shutil.copy(bad, root / split / "seq_002.png")  # replaces a good frame, keeps its label
    return root


def _one_line_error(capsys, code: int, name: str) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert name in lines[0], lines[0]
    return lines[0]


BAD_FILES = ["empty.png", "text.png", "truncated.png", "huge_canvas.png", "float.tif"]


def test_predict_skips_each_bad_file_by_name_and_fails_when_nothing_is_left(corpus, checkpoint, tmp_path, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(corpus, folder)
    Image.fromarray(GOOD).save(folder / "good.png")
    code = main(["predict", str(folder), "--weights", str(checkpoint), "--output", str(tmp_path / "out"),
                 "--no-progress", "--tta", "none"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    for name in BAD_FILES:
        assert f"skipping {folder / name}" in err, name
    assert (tmp_path / "out" / "labels" / "good.png").is_file()
    code = main(["predict", str(corpus), "--weights", str(checkpoint), "--output", str(tmp_path / "none"),
                 "--no-progress"])
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "none of the 5 file(s) is a readable image" in line


@pytest.mark.parametrize("name", BAD_FILES)
def test_evaluate_train_and_quantize_name_the_bad_frame(corpus, checkpoint, tmp_path, capsys, name):
    root = _camvid_with(tmp_path / "camvid", corpus / name)
    bad = "seq_002.png"
    code = main(["evaluate", "--weights", str(checkpoint), "--data-root", str(root), "--output",
                 str(tmp_path / "eval"), "--no-progress", "--no-bf"])
    _one_line_error(capsys, code, bad)
    code = main(["train", "--model", "segnet_basic", "--data-root", str(root), "--size", "48x64", "--epochs", "1",
                 "--batch-size", "2", "--workers", "0", "--no-progress", "--run-dir", str(tmp_path / "run")])
    _one_line_error(capsys, code, bad)
    code = main(["quantize", "--weights", str(checkpoint), "--data-root", str(root), "--images", "4",
                 "--output", str(tmp_path / "q.pt")])
    _one_line_error(capsys, code, bad)
    assert not (tmp_path / "q.pt").exists()


@pytest.mark.parametrize("name", BAD_FILES)
def test_the_python_api_names_the_file_or_skips_it_in_a_folder(corpus, checkpoint, name):
    model = segnet.load(checkpoint, tta="none")
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        model.predict(corpus / name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert model.predict(corpus) == []
    assert any(name in str(w.message) for w in caught)


@pytest.mark.parametrize("name, status", [("empty.png", 400), ("text.png", 415), ("truncated.png", 400),
                                          ("huge_canvas.png", 413), ("float.tif", 415)])
def test_the_server_answers_each_bad_upload_with_a_4xx_and_stays_up(corpus, checkpoint, name, status):
    pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from segnet.serve import create_app

    client = TestClient(create_app(segnet.load(checkpoint, tta="none")))
    data = (corpus / name).read_bytes()
    response = client.post("/api/segment", files={"file": (name, data, "image/png")})
    assert response.status_code == status, response.text
    assert response.json()["detail"] and "\n" not in response.json()["detail"]
    ok = client.post("/api/segment", files={"file": ("good.png", _png_bytes(GOOD), "image/png")})
    assert ok.status_code == 200


# --- unusual but valid images: the same labels through every way in --------------------------


def _unusual_files(folder: Path) -> dict[str, Path]:
    """16-bit grey, palette, CMYK and an EXIF-rotated JPEG: all readable, none plain 8-bit RGB."""
    grey8 = GOOD[..., 0]
    files = {}
    files["grey16.png"] = folder / "grey16.png"
    Image.fromarray(grey8.astype(np.uint16) * 257).save(files["grey16.png"])
    files["palette.png"] = folder / "palette.png"
    Image.fromarray(GOOD).quantize(64).save(files["palette.png"])
    files["cmyk.jpg"] = folder / "cmyk.jpg"
    Image.fromarray(GOOD).convert("CMYK").save(files["cmyk.jpg"], quality=95)
    files["rotated.jpg"] = folder / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(GOOD).save(files["rotated.jpg"], quality=95, exif=exif)
    return files


def test_unusual_images_get_the_same_labels_from_the_api_the_cli_and_the_server(checkpoint, tmp_path):
    pytest.importorskip("fastapi")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from segnet.serve import create_app

    folder = tmp_path / "unusual"
    folder.mkdir()
    files = _unusual_files(folder)
    model = segnet.load(checkpoint, tta="none")
    assert main(["predict", str(folder), "--weights", str(checkpoint), "--output", str(tmp_path / "out"),
                 "--no-progress", "--tta", "none"]) == 0
    client = TestClient(create_app(model))
    for name, path in files.items():
        api = model.predict(path).labels
        cli = np.asarray(Image.open(tmp_path / "out" / "labels" / f"{path.stem}.png"))
        response = client.post("/api/segment?format=labels", files={"file": (name, path.read_bytes(), "image/png")})
        assert response.status_code == 200, response.text
        server = np.asarray(Image.open(io.BytesIO(response.content)))
        np.testing.assert_array_equal(cli, api, err_msg=name)
        np.testing.assert_array_equal(server, api, err_msg=name)
    assert model.predict(files["rotated.jpg"]).labels.shape == (64, 48)  # EXIF applied: upright
    grey8 = model.predict(np.repeat(GOOD[..., :1], 3, axis=2)).labels
    np.testing.assert_array_equal(model.predict(files["grey16.png"]).labels, grey8)  # 16-bit scaled, not white


def test_a_label_file_that_does_not_fit_its_image_is_named(tmp_path, checkpoint, capsys):
    root = tmp_path / "camvid"
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir(parents=True)
        for i in range(4):
            Image.fromarray(GOOD).save(root / split / f"seq_{i:03d}.png")
            size = (40, 30) if i == 1 else (64, 48)
            Image.fromarray(np.zeros(size[::-1], np.uint8)).save(root / f"{split}annot" / f"seq_{i:03d}.png")
    code = main(["evaluate", "--weights", str(checkpoint), "--data-root", str(root), "--output",
                 str(tmp_path / "eval"), "--no-progress", "--no-bf"])
    _one_line_error(capsys, code, "seq_001.png")
    code = main(["train", "--model", "segnet_basic", "--data-root", str(root), "--size", "48x64", "--epochs", "1",
                 "--batch-size", "2", "--workers", "0", "--no-progress", "--run-dir", str(tmp_path / "run")])
    _one_line_error(capsys, code, "seq_001.png")


def test_unwritable_outputs_are_refused_before_any_work(checkpoint, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    image = tmp_path / "frame.png"
    Image.fromarray(GOOD).save(image)
    root = _camvid_with(tmp_path / "camvid", image)
    inside = blocker / "out"
    commands = {
        "predict": ["predict", str(image), "--weights", str(checkpoint), "--output", str(inside), "--no-progress"],
        "evaluate": ["evaluate", "--weights", str(checkpoint), "--data-root", str(root), "--output", str(inside),
                     "--no-progress"],
        "train": ["train", "--model", "segnet_basic", "--data-root", str(root), "--size", "48x64", "--epochs", "1",
                  "--workers", "0", "--no-progress", "--run-dir", str(inside)],
        "quantize": ["quantize", "--weights", str(checkpoint), "--data-root", str(root), "--output",
                     str(inside / "q.pt")],
        "export": ["export", "--weights", str(checkpoint), "--output", str(inside / "m.onnx")],
    }
    for name, argv in commands.items():
        code = main(argv)
        line = _one_line_error(capsys, code, str(blocker))
        assert name in line
    assert blocker.read_text() == "not a folder"
