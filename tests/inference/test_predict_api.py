"""`Segmenter.predict` takes what users pass to detection/segmentation tools and returns `Result`s."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import segnet
from segnet.results import Result
from segnet.weights import KNOWN_WEIGHTS, resolve_weights


@pytest.fixture(scope="module")
def model():
    # The shipped weights at a small working size: the API is under test here, not the model (15 passes).
    return segnet.load("camvid", precision="fp32", tta="none", size=(96, 128))


def _image(seed: int, height: int = 48, width: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_every_input_kind_gives_the_labels_of_the_array_itself(model, tmp_path):
    array = _image(0)
    reference = model.label(array)
    path = tmp_path / "frame.png"
    Image.fromarray(array).save(path)
    tensor_float = torch.from_numpy(array).permute(2, 0, 1).float() / 255
    tensor_uint8 = torch.from_numpy(array).permute(2, 0, 1).contiguous()
    for source in (array, Image.fromarray(array), str(path), path, tensor_float, tensor_uint8):
        result = model.predict(source)
        assert isinstance(result, Result), type(source)
        np.testing.assert_array_equal(result.labels, reference)
        np.testing.assert_array_equal(result.image, array)
    assert model.predict(path).path == path


def test_lists_batches_folders_and_globs_give_one_result_per_image_in_order(model, tmp_path):
    arrays = [_image(1), _image(2, 40, 40), _image(3)]
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(tmp_path / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    expected = [model.label(a) for a in arrays]

    listed = model.predict(arrays, batch_size=2)
    with pytest.warns(UserWarning, match=r"notes\.txt: not an image file"):
        from_folder = model.predict(tmp_path)
    from_glob = model.predict(str(tmp_path / "img*.png"))
    for results in (listed, from_glob):
        assert [r.labels.shape for r in results] == [e.shape for e in expected]
        for result, want in zip(results, expected):
            np.testing.assert_array_equal(result.labels, want)
    assert [r.path.name for r in from_folder] == ["img0.png", "img1.png", "img2.png"]  # notes.txt skipped

    batch = np.stack([arrays[0], arrays[2]])
    stacked = model.predict(batch)
    assert len(stacked) == 2
    np.testing.assert_array_equal(stacked[1].labels, expected[2])
    streamed = model.predict(arrays, stream=True)
    assert not isinstance(streamed, list)
    np.testing.assert_array_equal(next(streamed).labels, expected[0])


def test_probs_are_the_softmax_of_the_logits_and_agree_with_the_labels(model):
    array = _image(4)
    result = model.predict(array, return_probs=True)
    assert result.probs.shape == (11, 48, 64)
    np.testing.assert_allclose(result.probs.sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(result.probs.argmax(0), result.labels)
    logits = model.logits(segnet.inference.image_to_tensor(array, model.mean, model.std)[None])[0]
    np.testing.assert_allclose(result.probs, torch.softmax(logits, 0).numpy(), atol=1e-6)
    labels, probs = model.predict_batch([array], return_probs=True)[0]
    np.testing.assert_array_equal(labels, result.labels)
    np.testing.assert_allclose(probs, result.probs, atol=1e-6)
    assert model.predict(array).probs is None


def test_result_plot_save_and_shares(model, tmp_path):
    array = _image(5)
    result = model(array)  # a Segmenter is callable
    colors = result.color()
    np.testing.assert_array_equal(colors, model.classes.palette()[result.labels])
    want = np.round(0.6 * array.astype(np.float32) + 0.4 * colors.astype(np.float32)).astype(np.uint8)
    np.testing.assert_array_equal(result.plot(alpha=0.4), want)
    np.testing.assert_array_equal(np.asarray(result), result.labels)

    top = next(iter(result.shares()))
    hidden = result.plot(alpha=1.0, hide=(top,))
    mask = result.labels == model.classes.names.index(top)
    np.testing.assert_array_equal(hidden[mask], array[mask])  # the hidden class shows the photo
    np.testing.assert_array_equal(hidden[~mask], colors[~mask])
    assert abs(sum(result.shares().values()) - 1.0) < 1e-9
    assert result.shares()[top] == pytest.approx(mask.mean())
    with pytest.raises(ValueError, match="not one of"):
        result.plot(hide=("Unicorn",))

    written = result.save(tmp_path, stem="x")
    assert sorted(written) == ["color", "labels", "overlay"]
    np.testing.assert_array_equal(np.asarray(Image.open(written["labels"])), result.labels)
    np.testing.assert_array_equal(np.asarray(Image.open(written["overlay"])), result.plot())
    assert "48x64" in repr(result) and "camvid" in repr(result)
    text = repr(model)
    assert "segnet_basic" in text and "fp32" in text and "96x128" in text


def test_bad_inputs_are_named(model, tmp_path):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.predict(torch.rand(3, 20, 20) * 255)
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((4, 5), np.uint8)[None, None])
    with pytest.raises(TypeError, match="cannot segment a dict"):
        model.predict({"a": 1})
    with pytest.raises(FileNotFoundError, match="no such file"):
        model.predict(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="batch size"):
        model.predict(_image(0), batch_size=0)


def test_images_too_small_for_the_native_size_are_skipped_in_a_folder(tmp_path):
    native = segnet.load("camvid", precision="fp32", tta="none")
    native.size = None
    Image.fromarray(_image(6, 10, 10)).save(tmp_path / "a_small.png")
    Image.fromarray(_image(7, 32, 48)).save(tmp_path / "b_ok.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = native.predict(tmp_path)
    assert [r.path.name for r in results] == ["b_ok.png"]
    assert any("a_small.png" in str(w.message) and "too small" in str(w.message) for w in caught)
    assert not any("Int8SegNet" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="too small"):
        native.predict(_image(6, 10, 10))  # one image given directly: an error, not a warning


def test_known_weights_names_and_devices():
    assert resolve_weights("camvid") == KNOWN_WEIGHTS["camvid"].path
    assert resolve_weights("CamVid") == KNOWN_WEIGHTS["camvid"].path
    with pytest.raises(FileNotFoundError, match="not a known name"):
        resolve_weights("camvd")
    assert segnet.load("camvid", device="auto", tta="none").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not a device name"):
        segnet.load("camvid", device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            segnet.load("camvid", device="cuda:1")
