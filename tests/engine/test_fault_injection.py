"""kill -9 at random moments, resume each time: the final weights equal an uninterrupted run's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch


def _command(root: Path, run_dir: Path, model: str, resume: bool) -> list[str]:
    if resume:
        return [sys.executable, "-m", "segnet", "train", "--run-dir", str(run_dir), "--resume", "--no-progress"]
    return [sys.executable, "-m", "segnet", "train", "--data-root", str(root), "--run-dir", str(run_dir),
            "--model", model, "--size", "48x64", "--batch-size", "2", "--epochs", "3", "--workers", "0",
            "--class-weights", "none", "--checkpoint-minutes", "0", "--no-progress", "--lr", "0.01"]


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns if path.exists() else 0


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "last.pt", weights_only=True)["state_dict"]


# Bayesian SegNet-Basic is SegNet-Basic with dropout: it covers the plain model's state and the
# dropout RNG that a resume must restore too (the plain model alone took another 43 s here).
@pytest.mark.parametrize("model", ["bayesian_segnet_basic"])
def test_random_kills_then_resume_end_where_an_uninterrupted_run_ends(tiny_camvid, tmp_path, model):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same kernels in every process
    straight = tmp_path / "straight"  # the uninterrupted run, beside the interrupted ones (its own folder)
    uninterrupted = subprocess.Popen(_command(tiny_camvid, straight, model, False), env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    cut = tmp_path / "cut"
    rng = np.random.default_rng(7)
    kills = 0
    for attempt in range(5):
        process = subprocess.Popen(_command(tiny_camvid, cut, model, resume=(cut / "config.json").exists()),
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Wait for this process's first checkpoint write, then kill it a random moment later: in a
        # step, a checkpoint write, the metrics row or validation.
        before = _mtime(cut / "last.pt")
        deadline = time.monotonic() + 60
        while _mtime(cut / "last.pt") == before and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        _, err = process.communicate()
        if process.returncode not in (0, -signal.SIGKILL):
            pytest.fail(f"attempt {attempt} failed: {err.decode()[-500:]}")
    final = subprocess.run(_command(tiny_camvid, cut, model, resume=True), env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr[-500:]
    assert kills >= 1
    _, err = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, err.decode()[-500:]
    a, b = _weights(straight), _weights(cut)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    rows = (cut / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3"]
    assert not list(cut.glob(".*.tmp"))
