"""`segnet predict` on images: outputs checked against the Segmenter and numpy, bad input handled."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.checkpoint import atomic_save, make_checkpoint
from segnet.cli.main import main
from segnet.data import CAMVID, IMAGENET_MEAN, IMAGENET_STD
from segnet.predict import output_stems, predict_images
from segnet.sources import collect_all, collect_sources

PALETTE = np.array(CAMVID.colors, dtype=np.uint8)  # the dataset's colours, not the library's palette()


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("segnet predict: error: ")
    return err


def test_outputs_match_segmenter_palette_and_blend(tmp_path, basic_weights, segmenter, capsys, save_image):
    images = {  # odd sizes; two of one size so --batch-size 2 really batches them
        "a": save_image(tmp_path / "in" / "a.png", 75, 101, 1),
        "b": save_image(tmp_path / "in" / "b.png", 75, 101, 2),
        "c": save_image(tmp_path / "in" / "c.jpg", 51, 63, 3),
    }
    out = tmp_path / "out"
    code = main(["predict", str(tmp_path / "in"), "--weights", str(basic_weights), "--output", str(out),
                 "--batch-size", "2", "--alpha", "0.25", "--no-progress"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "3 images" in stdout and "ms/image" in stdout and "images/s" in stdout
    # First, before the wait, what runs and what the default TTA multiplies the work by.
    assert stdout.splitlines()[0].startswith("segnet_basic at ")
    # the precision auto picks for this float checkpoint on this CPU: fp32, or bf16 where it is native
    assert segmenter.precision in ("fp32", "bf16")
    assert f", {segmenter.precision}, --tta multiscale: 10 model passes per image, " in stdout.splitlines()[0]
    assert stdout.splitlines()[0].endswith("x the compute of one (--tta none runs one); --refine crf")

    for stem, image in images.items():
        labels = read(out / "labels" / f"{stem}.png")
        assert labels.dtype == np.uint8 and labels.shape == image.shape[:2]
        np.testing.assert_array_equal(labels, segmenter.label(image))
        colour = read(out / "color" / f"{stem}.png")
        np.testing.assert_array_equal(colour, PALETTE[labels])
        # alpha 0.25 is exact in binary, so float32 and float64 blends round the same way
        expected = np.round(0.75 * image.astype(np.float64) + 0.25 * PALETTE[labels]).astype(np.uint8)
        np.testing.assert_array_equal(read(out / "overlay" / f"{stem}.png"), expected)
    assert len(np.unique(read(out / "labels" / "a.png"))) > 3  # the check sees several classes

    with open(out / "timings.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(r["image"]).name for r in rows] == ["a.png", "b.png", "c.jpg"]
    assert [(int(r["height"]), int(r["width"])) for r in rows] == [(75, 101), (75, 101), (51, 63)]
    assert all(float(r["ms"]) > 0 for r in rows)


def test_bad_files_are_skipped_with_warnings(tmp_path, basic_weights, capsys, save_image):
    folder = tmp_path / "in"
    save_image(folder / "good.png", 40, 50, 4)
    (folder / "notes.txt").write_text("not an image")
    save_image(folder / "broken.png", 40, 50, 5)
    data = (folder / "broken.png").read_bytes()
    (folder / "broken.png").write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    assert main(["predict", str(folder), "--weights", str(basic_weights), "--output", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert any("broken.png" in w for w in warnings) and any("notes.txt" in w for w in warnings)
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["good.png"]


def test_glob_selects_matching_files(tmp_path, basic_weights, save_image):
    for i, name in enumerate(["a.png", "b.png", "c.jpg"]):
        save_image(tmp_path / "in" / name, 33, 41, i)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "in" / "*.png"), "--weights", str(basic_weights),
                 "--output", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in (out / "overlay").iterdir()) == ["a.png", "b.png"]


@pytest.mark.parametrize("kind", ["empty folder", "missing path", "no glob match", "only bad files"])
def test_nothing_to_do_is_a_one_line_error(tmp_path, basic_weights, capsys, kind):
    folder = tmp_path / "in"
    folder.mkdir()
    source = {"empty folder": folder, "missing path": tmp_path / "nope.png",
              "no glob match": folder / "*.jpg", "only bad files": folder}[kind]
    if kind == "only bad files":
        (folder / "readme.md").write_text("#")
    code = main(["predict", str(source), "--weights", str(basic_weights), "--output", str(tmp_path / "o"),
                 "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert len(error_lines) == 1 and error_lines[0].startswith("segnet predict: error: ")
    assert str(source).split("/")[-1] in error_lines[0]


def test_unusable_checkpoints_are_one_line_errors(tmp_path, capsys, save_image):
    save_image(tmp_path / "x.png", 20, 30, 0)
    # The file claims 11 classes but holds the weights of a 12-class model.
    checkpoint = make_checkpoint(segnet.create_model("segnet_basic", 11), CAMVID, IMAGENET_MEAN, IMAGENET_STD, (32, 32))
    checkpoint["state_dict"] = segnet.create_model("segnet_basic", 12).state_dict()
    atomic_save(checkpoint, tmp_path / "mismatch.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    for weights, words in [("mismatch.pt", "do not fit"), ("junk.pt", "not a readable checkpoint")]:
        assert main(["predict", str(tmp_path / "x.png"), "--weights", str(tmp_path / weights),
                     "--output", str(tmp_path / "o"), "--no-progress"]) == 2
        err = one_line_error(capsys)
        assert weights in err and words in err


def test_no_shipped_weights_is_a_one_line_error(tmp_path, monkeypatch, capsys, save_image):
    monkeypatch.setattr("segnet.weights.WEIGHTS_DIR", tmp_path / "empty")
    save_image(tmp_path / "x.png", 20, 30, 0)
    assert main(["predict", str(tmp_path / "x.png"), "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "--weights" in one_line_error(capsys)


def test_default_output_is_a_new_runs_folder(tmp_path, basic_weights, monkeypatch, save_image):
    save_image(tmp_path / "x.png", 20, 30, 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "predict-1").mkdir(parents=True)
    assert main(["predict", "x.png", "--weights", str(basic_weights), "--no-progress"]) == 0
    assert (tmp_path / "runs" / "predict-2" / "labels" / "x.png").is_file()


def test_samples_need_a_bayesian_model(tmp_path, basic_weights, capsys, save_image):
    save_image(tmp_path / "x.png", 20, 30, 0)
    assert main(["predict", str(tmp_path / "x.png"), "--weights", str(basic_weights), "--samples", "3",
                 "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    err = one_line_error(capsys)
    assert "segnet_basic" in err and "--samples" in err
    assert not (tmp_path / "o").exists()


def test_bayesian_uncertainty_maps(tmp_path, bayesian_weights, capsys, save_image):
    image = save_image(tmp_path / "in" / "x.png", 45, 61, 7)
    save_image(tmp_path / "in" / "y.png", 30, 40, 8)
    out = tmp_path / "cli"
    assert main(["predict", str(tmp_path / "in"), "--weights", str(bayesian_weights), "--samples", "3",
                 "--output", str(out), "--no-progress"]) == 0
    assert read(out / "uncertainty" / "x.png").shape == (45, 61)
    assert read(out / "uncertainty" / "y.png").shape == (30, 40)

    # Same random stream as an independent predict_uncertainty call -> same maps.
    bayes = segnet.load(bayesian_weights)
    torch.manual_seed(3)
    predict_images(bayes, [tmp_path / "in" / "x.png"], tmp_path / "lib", samples=3, progress=False)
    torch.manual_seed(3)
    labels, uncertainty = bayes.predict_uncertainty(image, samples=3)
    assert uncertainty.max() > 0
    expected = np.round(uncertainty.astype(np.float64) / uncertainty.max() * 255).astype(np.uint8)
    got = read(tmp_path / "lib" / "uncertainty" / "x.png")
    assert got.dtype == np.uint8 and got.max() == 255
    assert np.abs(got.astype(int) - expected).max() <= 1  # float32 vs float64 rounding at .5
    np.testing.assert_array_equal(read(tmp_path / "lib" / "labels" / "x.png"), labels)
    with open(tmp_path / "lib" / "timings.csv") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["uncertainty_max"]) == pytest.approx(float(uncertainty.max()), rel=1e-6)


def test_sources_and_stems(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "clip.MP4").write_bytes(b"")
    assert collect_sources(tmp_path / "a.png").images == (tmp_path / "a.png",)
    assert collect_sources(tmp_path / "clip.MP4").video == tmp_path / "clip.MP4"
    assert output_stems([Path("d1/a.png"), Path("d2/a.png"), Path("d1/a.jpg"), Path("b.png")]) == ["a", "a-2", "a-3", "b"]
    # An input whose own name is a numbered stem keeps it; the repeat takes the next free number.
    assert output_stems([Path("x.png"), Path("x.jpg"), Path("x-2.png")]) == ["x", "x-3", "x-2"]
    stems = output_stems([Path("a/x.png"), Path("b/x.png"), Path("x-2.png"), Path("c/x.png"), Path("x-3.jpg")])
    assert len(set(stems)) == 5 and stems[2] == "x-2" and stems[4] == "x-3"


def test_several_sources_are_one_list_in_order_each_file_once(tmp_path):
    for name in ("a.png", "b.png", "sub/c.png", "sub/d.jpg", "clip.mp4"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    # What the shell hands over for `segnet predict b.png sub a.png 'sub/*.png'`: the folder's files
    # in name order where the folder stands, a.png after them, sub/c.png not twice.
    sources = collect_all([str(tmp_path / "b.png"), str(tmp_path / "sub"), str(tmp_path / "a.png"),
                           str(tmp_path / "sub" / "*.png")])
    assert sources.video is None
    assert sources.images == (tmp_path / "b.png", tmp_path / "sub" / "c.png", tmp_path / "sub" / "d.jpg",
                              tmp_path / "a.png")
    assert collect_all([str(tmp_path / "clip.mp4")]).video == tmp_path / "clip.mp4"  # alone: a video run
    with pytest.raises(ValueError, match=r"clip\.mp4: a video must be the only SOURCE"):
        collect_all([str(tmp_path / "a.png"), str(tmp_path / "clip.mp4")])
    with pytest.raises(FileNotFoundError, match=r"missing\.png: no such file or folder"):
        collect_all([str(tmp_path / "a.png"), str(tmp_path / "missing.png")])


def test_a_glob_the_shell_expanded_is_segmented_like_the_quoted_one(tmp_path, basic_weights, capsys, save_image):
    for stem, seed in (("a", 1), ("b", 2)):
        save_image(tmp_path / "in" / f"{stem}.png", 40, 52, seed)
    quoted, expanded = tmp_path / "quoted", tmp_path / "expanded"
    common = ["--weights", str(basic_weights), "--tta", "none", "--no-progress"]
    assert main(["predict", str(tmp_path / "in" / "*.png"), "--output", str(quoted), *common]) == 0
    assert main(["predict", str(tmp_path / "in" / "a.png"), str(tmp_path / "in" / "b.png"),
                 "--output", str(expanded), *common]) == 0
    assert "2 images" in capsys.readouterr().out
    for stem in ("a", "b"):
        np.testing.assert_array_equal(read(expanded / "labels" / f"{stem}.png"), read(quoted / "labels" / f"{stem}.png"))


def test_several_unreadable_sources_are_named_in_one_short_line(tmp_path, basic_weights, capsys):
    files = [tmp_path / f"{stem}.png" for stem in ("x", "y", "z")]
    for path in files:
        path.write_bytes(b"not an image")
    code = main(["predict", *map(str, files), "--weights", str(basic_weights), "--output", str(tmp_path / "out"),
                 "--tta", "none", "--no-progress"])
    assert code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (f"segnet predict: error: {files[0]} and 2 more: none of the 3 file(s) is a readable image "
                    "(see the warnings above)")


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: segnet predict")
    for option in ("--output", "--weights", "--samples", "--every", "--save-frames", "--alpha", "--no-progress"):
        assert option in out


def test_refine_crf_labels_are_the_crf_segmenters(tmp_path, basic_weights, capsys, save_image):
    image = save_image(tmp_path / "in" / "a.png", 75, 101, 1)
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "in"), "--weights", str(basic_weights), "--output", str(out),
                 "--tta", "none", "--refine", "crf", "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; --refine crf")
    refined = segnet.load(basic_weights, tta="none", refine="crf")
    plain = segnet.load(basic_weights, tta="none")
    labels = read(out / "labels" / "a.png")
    np.testing.assert_array_equal(labels, refined.label(image))
    assert (labels != plain.label(image)).any()  # the CRF moved some labels
