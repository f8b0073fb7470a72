"""`segnet serve` argument handling and start-up errors (uvicorn itself is replaced by a stub)."""

from __future__ import annotations

import pytest
import uvicorn

from segnet.cli import serve_cmd
from segnet.cli.main import build_parser, main


@pytest.fixture
def fake_uvicorn(monkeypatch):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    return calls


def test_serve_is_a_subcommand():
    args = build_parser().parse_args(["serve", "--port", "9000"])
    assert args.command == "serve" and args.port == 9000 and args.host == "127.0.0.1"


@pytest.mark.parametrize("text, expected", [("20MB", 20_000_000), ("5MiB", 5 * 2**20), ("1000", 1000),
                                            ("1.5kb", 1500), ("512 KiB", 512 * 1024)])
def test_parse_bytes(text, expected):
    assert serve_cmd.parse_bytes(text) == expected


@pytest.mark.parametrize("text, expected", [("4096x4096", 4096 * 4096), ("1000", 1000), ("30x40", 1200)])
def test_parse_pixels(text, expected):
    assert serve_cmd.parse_pixels(text) == expected


@pytest.mark.parametrize("option", [["--max-bytes", "lots"], ["--max-bytes", "0"], ["--max-pixels", "big"],
                                    ["--port", "70000"]])
def test_bad_options_are_one_line_errors(option, tiny_checkpoint, fake_uvicorn, capsys):
    assert main(["serve", "--weights", str(tiny_checkpoint), *option]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not fake_uvicorn


def test_missing_shipped_weights_is_a_clear_startup_error(monkeypatch, fake_uvicorn, capsys):
    def no_weights():
        raise FileNotFoundError("/pkg/weights/camvid_segnet_basic.pt: no shipped weights in this install; "
                                "pass --weights PATH to a checkpoint from segnet train")
    monkeypatch.setattr("segnet.weights.default_weights_path", no_weights)  # resolve_weights looks it up there
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segnet serve: error: no model to serve:") and "--weights PATH" in err
    assert not fake_uvicorn


def test_missing_checkpoint_and_samples_folder(tiny_checkpoint, tmp_path, fake_uvicorn, capsys):
    assert main(["serve", "--weights", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err
    assert main(["serve", "--weights", str(tiny_checkpoint), "--samples", str(tmp_path / "frames")]) == 2
    assert "samples folder not found" in capsys.readouterr().err
    assert not fake_uvicorn


def test_serve_builds_the_app_and_runs_uvicorn(tiny_checkpoint, samples_dir, fake_uvicorn, capsys):
    from fastapi.testclient import TestClient

    code = main(["serve", "--weights", str(tiny_checkpoint), "--samples", str(samples_dir), "--port", "8123",
                 "--max-bytes", "1MB", "--max-pixels", "100x100"])
    assert code == 0
    (app, kwargs), = fake_uvicorn
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8123
    assert "warning" not in capsys.readouterr().err
    with TestClient(app, base_url="http://127.0.0.1:8123") as client:
        assert client.get("/api/model").json()["limits"] == {"max_bytes": 1_000_000, "max_pixels": 10_000,
                                                             "max_queue": 8, "body_timeout_s": 10.0}
        assert len(client.get("/api/samples").json()) == 2
        assert client.get("/api/health", headers={"host": "attacker.example"}).status_code == 400


def test_public_host_warns(tiny_checkpoint, fake_uvicorn, capsys):
    assert main(["serve", "--weights", str(tiny_checkpoint), "--host", "0.0.0.0"]) == 0
    assert "no authentication" in capsys.readouterr().err
