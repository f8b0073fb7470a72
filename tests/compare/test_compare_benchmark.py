"""`segnet benchmark`: the fresh-process memory worker, the report files and the CLI's errors."""

import csv

import pytest

from segnet.benchmark import BenchmarkSettings, model_size_mb, run_memory_worker
from segnet.cli.main import build_parser, main

TINY = BenchmarkSettings(input_shape=(3, 64, 80), repeats=1, warmup=0)


def test_memory_worker_in_fresh_process():
    training = run_memory_worker("segnet_basic", "training", TINY)
    inference = run_memory_worker("segnet_basic", "inference", TINY)
    assert training["peak_mb"] > 0 and inference["peak_mb"] > 0
    assert inference["peak_mb"] < training["peak_mb"]
    # Training holds the gradients (1.42M float32 = 5.7 MB) on top of the activations.
    assert training["peak_mb"] > 5.6
    assert inference["baseline_mb"] > 50  # the worker's own interpreter + torch, not counted


def test_model_size_is_the_float32_file():
    import segnet

    model = segnet.create_model("fcn_basic", 11)
    size = model_size_mb(model)
    assert 4 * 646_839 / 1e6 < size < 4 * 646_839 / 1e6 + 0.1  # weights plus pickle/zip overhead


def test_cli_writes_markdown_csv_and_chart(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(["benchmark", "--models", "segnet_basic,fcn_basic", "--size", "3x64x80", "--repeats", "1",
                 "--warmup", "0", "--output", str(out), "--no-progress"])
    assert code == 0
    table = (out / "benchmark.md").read_text()
    assert "| Model | Forward pass (ms) | Backward pass (ms) | CPU training memory (MB)" in table
    with (out / "benchmark.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["segnet_basic", "fcn_basic"]
    for row in rows:
        assert float(row["forward_ms"]) > 0 and float(row["backward_ms"]) > 0
        assert 0 < float(row["inference_memory_mb"]) < float(row["training_memory_mb"])
        assert row["input"] == "1x3x64x80"
    assert int(rows[0]["parameters"]) == 1_416_587
    assert (out / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "segnet_basic" in capsys.readouterr().out


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["benchmark", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: segnet benchmark" in out and "--models" in out and "--device" in out


def test_unknown_model_is_one_line_error(capsys, tmp_path):
    assert main(["benchmark", "--models", "segnet,segnet_large", "--output", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("segnet benchmark: error: unknown model 'segnet_large'; known models: ")
    assert "deeplab_largefov" in err and "fcn_basic" in err
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("size", ["3x64x64x2", "axb", "0x64x64"])
def test_bad_size(size, capsys):
    assert main(["benchmark", "--models", "segnet", "--size", size]) == 2
    assert "is not of the form CxHxW" in capsys.readouterr().err


def test_benchmark_help_states_the_defaults_of_benchmark_settings(capsys):
    # The parser leaves unset options to BenchmarkSettings (it is built without torch), so its help
    # text is the only place the defaults are written out: it must say what the settings use.
    defaults = BenchmarkSettings()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["benchmark", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for stated in (f"(default {'x'.join(map(str, defaults.input_shape))},", f"per pass (default {defaults.batch})",
                   f"device (default {defaults.device})", f"median reported (default {defaults.repeats})",
                   f"first (default {defaults.warmup})", f"classes (default {defaults.num_classes},"):
        assert stated in out
