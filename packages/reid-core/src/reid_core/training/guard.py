"""What surrounds a training run: the output folder's lock, stale temporary files, stop signals.

* One training per output folder: :class:`OutputLock` holds a lock file there for the whole run,
  and a second run is refused with the first one's pid.
* A kill during a checkpoint save leaves a ``*.tmp`` file beside the checkpoints (the rename never
  came); :func:`remove_stale_temporaries` deletes them when the next run, holding the lock, starts.
* Slurm, systemd and Kubernetes stop a job by signalling its whole process group, loader workers
  included. :class:`StopSignals` records SIGTERM/SIGINT in the main process, which finishes its step,
  saves and exits 0; :func:`ignore_stop_signals` (the loaders' ``worker_init_fn``) keeps the workers
  alive meanwhile: a worker killed under the loader crashes the main process. Workers still end
  with their parent: PyTorch's workers exit when they see it gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from ..errors import ReidError

log = logging.getLogger("reid_core.train")

#: the signals that ask a run to save and stop
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: the temporary names :func:`~reid_core.training.checkpoint.save_atomic` gives (``NAME.XXXX.tmp``)
_TEMPORARY = re.compile(r"^(last|best|epoch_\d{4,})\.pth\.[^.]+\.tmp$")


class OutputInUseError(ReidError):
    """Another training is writing into the same output folder."""


class OutputLock:
    """An exclusive lock on a training output folder, with the holder's pid beside it.

    Args:
        folder: the run's ``OUTPUT_DIR`` (created if missing).
    """

    LOCK_NAME = ".train.lock"
    PID_NAME = "train.pid"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._lock: FileLock | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`OutputInUseError` naming the process that holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.folder / self.LOCK_NAME), is_singleton=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise OutputInUseError(
                f"{self.folder} is in use by another training ({self._holder()}); wait for it to finish, "
                "stop it, or give another output folder (--output)"
            ) from None
        self._lock = lock
        pid_file = self.folder / self.PID_NAME
        tmp = pid_file.with_name(f"{self.PID_NAME}.{os.getpid()}.tmp")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, pid_file)

    def release(self) -> None:
        """Give the lock back (also done by the operating system when the process ends)."""
        if self._lock is None:
            return
        (self.folder / self.PID_NAME).unlink(missing_ok=True)
        self._lock.release()
        self._lock = None

    def _holder(self) -> str:
        try:
            pid = int((self.folder / self.PID_NAME).read_text().strip())
        except (OSError, ValueError):
            return "pid unknown"
        return f"pid {pid}"

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the ``*.tmp`` files an interrupted checkpoint save left in ``folder``; returns them.

    Only call it while holding the folder's :class:`OutputLock`: a live run's temporaries are not stale.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.iterdir()):
        if _TEMPORARY.match(p.name) and p.is_file():
            p.unlink(missing_ok=True)
            removed.append(p)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted save: %s", len(removed),
                 ", ".join(p.name for p in removed))
    return removed


class StopSignals:
    """While entered, SIGTERM and SIGINT are recorded in :attr:`received` instead of ending the process.

    The previous handlers come back on exit. Outside the main thread, where handlers cannot be
    installed, it does nothing.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received = signum

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def ignore_stop_signals(worker_id: int = 0) -> None:
    """``worker_init_fn`` of the loaders: a loader worker ignores SIGTERM and SIGINT.

    The main process decides when to stop; it then shuts its workers down itself.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        # started under :func:`signals_held`: a signal that came meanwhile is dropped now, ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold back SIGTERM/SIGINT while loader workers start, so that none dies before it ignores them.

    A worker inherits the blocked mask and unblocks it in :func:`ignore_stop_signals`, once it ignores
    the signals; the main process gets a signal that came meanwhile when the block ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
