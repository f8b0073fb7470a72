"""SIGTERM (a scheduler, `timeout`) or Ctrl-C, sent to the whole process group (loader workers too), stops a run at a
step with last.pt written at that step, exit status 128 + signal, and --resume finishes the run."""

from __future__ import annotations

import datetime
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

EPOCHS = 3  # 4 steps each on tiny_camvid: the signal lands after the first, before the end

# `python -m segnet`, with SIGINT heard again: a shell's background job (CI may run this suite as one)
# starts with it ignored, which the trainer rightly keeps.
SEGNET_HEARING_SIGINT = [sys.executable, "-c", ("import runpy, signal; "
                                                "signal.signal(signal.SIGINT, signal.default_int_handler); "
                                                "runpy.run_module('segnet', run_name='__main__')")]


def _command(root: Path, run_dir: Path, workers: int) -> list[str]:
    return [*SEGNET_HEARING_SIGINT, "train", "--data-root", str(root), "--run-dir", str(run_dir),
            "--model", "segnet_basic", "--size", "48x64", "--batch-size", "2", "--epochs", str(EPOCHS),
            "--workers", str(workers), "--class-weights", "none", "--checkpoint-minutes", "60", "--no-progress"]


def _progress(run_dir: Path) -> dict:
    return torch.load(run_dir / "last.pt", weights_only=True)["progress"]


@pytest.mark.parametrize(("how", "signal_number", "workers"), [
    # SLURM's scancel and `timeout` signal every process of the job, the loader workers too.
    ("SIGTERM to the process group", signal.SIGTERM, 1),
    ("Ctrl-C to the process group", signal.SIGINT, 1),
])
def test_a_stop_signal_saves_the_step_reached_and_resume_finishes(tiny_camvid, tmp_path, how, signal_number,
                                                                  workers):
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(_command(tiny_camvid, run_dir, workers), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    # The first epoch's row: training is under way, and last.pt holds the end of epoch 1 only.
    deadline = time.monotonic() + 120
    while not (run_dir / "metrics.csv").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, f"{how}: the run ended before the signal: {process.stderr.read()[-500:]}"
    if workers:
        os.killpg(process.pid, signal_number)
    else:
        process.send_signal(signal_number)
    _, err = process.communicate(timeout=120)

    assert process.returncode == 128 + signal_number, f"{how}: exit {process.returncode}: {err[-500:]}"
    assert "Traceback" not in err, err[-800:]
    last_line = err.strip().splitlines()[-1]
    name = signal.Signals(signal_number).name
    assert last_line.startswith(f"segnet train: stopped by {name} at epoch "), last_line
    assert f"--run-dir {run_dir} --resume" in last_line
    stopped_at = int(re.search(r"step (\d+);", last_line).group(1))
    progress = _progress(run_dir)
    assert progress["global_step"] == stopped_at
    assert stopped_at < EPOCHS * 4

    resumed = subprocess.run([sys.executable, "-m", "segnet", "train", "--run-dir", str(run_dir), "--resume",
                              "--no-progress"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-500:]
    assert _progress(run_dir)["global_step"] == EPOCHS * 4
    rows = (run_dir / "metrics.csv").read_text().strip().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, EPOCHS + 1))


def test_stop_requests_restore_the_handlers_they_replaced():
    from segnet.engine.stop import StopRequests

    def loader_sigchld_handler(number, frame):  # PyTorch's: raises when a loader worker has died
        raise RuntimeError("DataLoader worker is killed by signal: Terminated")

    previous_chld = signal.signal(signal.SIGCHLD, loader_sigchld_handler)
    try:
        before = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)}
        with StopRequests() as stop:
            assert not stop.requested and signal.getsignal(signal.SIGCHLD) is loader_sigchld_handler
            signal.raise_signal(signal.SIGTERM)  # recorded, not fatal
            assert stop.requested and stop.signal_name == "SIGTERM"
            # The workers may die of the same signal: their deaths must not raise in mid-step.
            assert signal.getsignal(signal.SIGCHLD) not in (loader_sigchld_handler, previous_chld)
            signal.raise_signal(signal.SIGCHLD)
            with pytest.raises(KeyboardInterrupt):  # a second signal stops at once
                signal.raise_signal(signal.SIGTERM)
        assert {number: signal.getsignal(number) for number in before} == before
    finally:
        signal.signal(signal.SIGCHLD, previous_chld)


def test_a_worker_death_pending_with_the_stop_is_swallowed_without_a_traceback():
    """scancel on a run inside one long op: the worker dies first, so SIGTERM and SIGCHLD are both
    pending when Python runs its handlers, SIGTERM's first (by number). The SIGCHLD that follows
    must meet a handler, not SIG_DFL, or Python prints "Signal 17 ignored due to race condition"."""
    from segnet.engine.stop import StopRequests

    def loader_sigchld_handler(number, frame):
        raise RuntimeError("DataLoader worker is killed by signal: Terminated")

    unraisable = []
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    previous_chld = signal.signal(signal.SIGCHLD, loader_sigchld_handler)
    both = {signal.SIGTERM, signal.SIGCHLD}
    try:
        with StopRequests() as stop:
            signal.pthread_sigmask(signal.SIG_BLOCK, both)
            # To this thread, which blocks them (another thread, torch's, would take a process-wide one
            # at once): the worker's death, then the stop signal.
            signal.pthread_kill(threading.get_ident(), signal.SIGCHLD)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
            sum(range(100))  # some bytecode, where Python runs the handlers of the signals that arrived
            assert stop.requested and stop.signal_name == "SIGTERM"
        assert [f"{info.exc_type.__name__}: {info.exc_value}" for info in unraisable] == []
        assert signal.getsignal(signal.SIGCHLD) is loader_sigchld_handler
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, both)
        signal.signal(signal.SIGCHLD, previous_chld)
        sys.unraisablehook = previous_hook


def test_an_ignored_sigint_stays_ignored():
    """Under nohup or `&` the shell ignores SIGINT for the job: training must not start hearing it."""
    from segnet.engine.stop import StopRequests

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopRequests():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_step_lost_to_the_stop_counts_as_the_stop(tiny_camvid, tmp_path, monkeypatch):
    """Ctrl-C can kill a loader worker while the trainer waits on it: that step fails before the
    weights change, and the run must still stop cleanly at the step before, not crash."""
    from segnet.engine import trainer
    from segnet.engine.config import TrainConfig
    from segnet.engine.stop import TrainingStopped

    real_step, calls = trainer._optimiser_step, []

    def step_then_lose_a_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signal.SIGTERM)
            raise RuntimeError("DataLoader worker (pid 1) exited unexpectedly")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "_optimiser_step", step_then_lose_a_batch)
    run_dir = tmp_path / "run"
    cfg = TrainConfig(model="segnet_basic", data_root=str(tiny_camvid), size=(48, 64), epochs=2, batch_size=2,
                      workers=0, run_dir=str(run_dir), val_split=None, class_weights="none")
    with pytest.raises(TrainingStopped, match=r"stopped by SIGTERM at epoch 1, step 2;") as stopped:
        trainer.train(cfg, progress_bar=False)
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    assert _progress(run_dir)["global_step"] == 2
    assert _progress(run_dir)["step_in_epoch"] == 2


def _rank_told_at_step_three(rank: int, data_root: str, run_dir: str, init_file: str, report_dir: str) -> None:
    """One torchrun-like rank: only rank 1 gets SIGTERM, in its third step; report where this rank stopped."""
    from segnet.engine import trainer
    from segnet.engine.config import TrainConfig
    from segnet.engine.stop import TrainingStopped

    torch.set_num_threads(1)
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank))
    # A rank left waiting in a collective fails after 60 s instead of hanging the suite.
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2,
                                         timeout=datetime.timedelta(seconds=60))
    real_step, calls = trainer._optimiser_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if rank == 1 and len(calls) == 3:
            signal.raise_signal(signal.SIGTERM)  # recorded by the trainer's handler; the step goes on
        return real_step(*args, **kwargs)

    trainer._optimiser_step = step
    cfg = TrainConfig(model="segnet_basic", data_root=data_root, size=(32, 48), epochs=2, batch_size=1, workers=0,
                      run_dir=run_dir, val_split=None, class_weights="none")
    try:
        trainer.train(cfg, progress_bar=False)
        outcome = "finished"
    except TrainingStopped as stopped:
        outcome = f"{stopped.exit_code} {stopped}"
    finally:
        torch.distributed.destroy_process_group()
    Path(report_dir, f"rank{rank}.txt").write_text(outcome)


def test_under_torchrun_a_signal_to_one_rank_stops_every_rank_at_the_same_step(tiny_camvid, tmp_path):
    """A rank that stopped alone would leave the others waiting in the next all-reduce for ever."""
    run_dir = tmp_path / "run"
    result = subprocess.run([sys.executable, __file__, str(tiny_camvid), str(run_dir), str(tmp_path / "init"),
                             str(tmp_path)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    for rank in (0, 1):  # rank 0 was never told: it stops with rank 1, as if it had had the SIGTERM too
        outcome = (tmp_path / f"rank{rank}.txt").read_text()
        assert outcome.startswith(f"{128 + signal.SIGTERM} stopped by SIGTERM at epoch 1, step 3;"), (rank, outcome)
    assert _progress(run_dir)["global_step"] == 3


if __name__ == "__main__":  # the two ranks, spawned from a fresh interpreter
    torch.multiprocessing.spawn(_rank_told_at_step_three, args=tuple(sys.argv[1:5]), nprocs=2, join=True)
