import subprocess
import sys

import pytest

from segnet.cli.main import build_parser, main


def test_models_table(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("segnet", "segnet_basic", "bayesian_segnet", "bayesian_segnet_basic"):
        assert f"\n{name} " in out
    segnet_row = next(line for line in out.splitlines() if line.startswith("segnet "))
    params, gflops, int64_mb, compact_mb = (float(v) for v in segnet_row.split()[1:5])
    assert params == pytest.approx(29.45, abs=0.05)
    assert gflops == pytest.approx(213.4, abs=1)
    assert int64_mb == pytest.approx(42.27, abs=0.01)
    assert compact_mb == pytest.approx(int64_mb / 32, abs=0.01)


def test_bad_size_is_one_line_error(capsys):
    assert main(["models", "--size", "big"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "segnet models: error: size 'big' is not of the form HxW, e.g. 360x480"


def test_every_subcommand_has_help(capsys):
    # In this process: a fresh interpreter per subcommand cost 3 s each on a 2-core AVX2 CPU; the
    # module entry point itself is run by the test below.
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert "models" in subcommands
    for name in subcommands:
        with pytest.raises(SystemExit) as stopped:
            build_parser().parse_args([name, "--help"])
        assert stopped.value.code == 0, name
        assert f"usage: segnet {name}" in capsys.readouterr().out


def test_version_module_entry_and_bare_command():
    import segnet

    version = subprocess.run([sys.executable, "-m", "segnet", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"segnet {segnet.__version__}"
    bare = subprocess.run([sys.executable, "-m", "segnet"], capture_output=True, text=True)
    assert bare.returncode == 0 and bare.stdout.startswith("usage: segnet")
    for name in ("train", "evaluate", "predict", "export", "serve"):
        assert name in bare.stdout
