"""Stop a training run cleanly on SIGTERM or SIGINT: finish the step, write last.pt, exit.

Schedulers (SLURM, Kubernetes) send SIGTERM before they kill a job and Ctrl-C sends SIGINT; without
this a run loses everything since its last periodic checkpoint. A second signal stops at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingStopped(KeyboardInterrupt):
    """Raised after the checkpoint is written; ``exit_code`` is the shell's 128 + signal number."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signal_number


def _child_ended(signal_number: int, frame: FrameType | None) -> None:
    """SIGCHLD while a stop is under way: nothing to do (the run ends after this step)."""


class StopRequests:
    """Records the first stop signal instead of dying; handlers are installed only in the main thread."""

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_number is not None

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number is not None else ""

    def _handle(self, signal_number: int, frame: FrameType | None) -> None:
        if self.signal_number is not None:  # asked twice: the user does not want to wait
            raise KeyboardInterrupt
        self.signal_number = signal_number
        # Sent to the whole process group (SLURM's scancel, `timeout`), SIGTERM kills the loader
        # workers too, and PyTorch's SIGCHLD handler would raise wherever this process is, in the
        # middle of a step or a checkpoint write. The run stops after this step anyway; a dead worker
        # is met, if at all, when the next batch is fetched, before the weights change.
        # A Python no-op rather than SIG_DFL: a worker that died while this process sat in one long
        # op has its SIGCHLD pending already, and Python runs it after this handler (by signal
        # number); with SIG_DFL in place by then, Python prints "Signal 17 ignored due to race
        # condition" with a traceback.
        chld = getattr(signal, "SIGCHLD", None)
        if chld is not None and chld not in self._previous and signal.getsignal(chld) is not None:
            self._previous[chld] = signal.signal(chld, _child_ended)  # put back on leaving

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for number in STOP_SIGNALS:
                previous = signal.getsignal(number)
                # Ignored (SIGINT under nohup: the user asked not to be told), or set outside Python
                # (None: it could not be put back).
                if previous is signal.SIG_IGN or previous is None:
                    continue
                self._previous[number] = previous
                signal.signal(number, self._handle)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()
