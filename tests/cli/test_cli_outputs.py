"""Every writing command checks its output before the work: one line, exit 2, nothing done."""

from __future__ import annotations

import pytest

from segnet.cli.main import main


@pytest.fixture
def blocker(tmp_path):
    """A plain file: any folder 'inside' it cannot be created, even by root."""
    path = tmp_path / "a-file"
    path.write_text("not a folder\n")
    return path


@pytest.mark.parametrize("argv", [
    ["predict", "{image}", "--output", "{bad}/out"],
    ["evaluate", "--data-root", "{data}", "--output", "{bad}/out"],
    ["evaluate", "--data-root", "{data}", "--save-predictions", "{bad}/labels"],
    ["quantize", "--data-root", "{data}", "--output", "{bad}/q.pt"],
    ["export", "--output", "{bad}/m.onnx"],
    ["benchmark", "--models", "segnet_basic", "--output", "{bad}/bench"],
    ["train", "--data-root", "{data}", "--run-dir", "{bad}/run", "--model", "segnet_basic", "--size", "32x32"],
])
def test_unwritable_output_is_one_line_before_the_work(tmp_path, blocker, capsys, argv):
    from PIL import Image

    image = tmp_path / "frame.png"
    Image.new("RGB", (40, 30), (90, 120, 150)).save(image)
    values = {"bad": str(blocker), "image": str(image), "data": str(tmp_path / "no-data-needed")}
    code = main([part.format(**values) for part in argv])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "a-file" in err, err
    assert captured.out == ""  # no work was done (no table, no timings) before the refusal
