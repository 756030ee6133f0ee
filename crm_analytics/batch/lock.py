"""One run at a time per run folder: a lock file that a killed run does not leave stuck.

``<run folder>/.run.lock`` holds the holder's pid, host and start time (JSON) and is kept
``flock``-ed by the holder for the whole run. The kernel drops an ``flock`` when its process
dies, however it dies (``kill -9`` included), so a lock file that nobody holds is stale and
the next run takes it over. The pid (and, on Linux, the process start time, so a reused pid
is not mistaken for the holder) is checked as well, for file systems where ``flock`` is not
shared between hosts: a lock from another host whose ``flock`` is free cannot be judged and
is reported, naming the host, never broken silently.

Examples
--------
>>> with RunLock("reports/2026-06"):  # doctest: +SKIP
...     run_reports(...)
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from crm_analytics.core.errors import InputError, RunLockedError

__all__ = ["LOCK_FILE", "RunLock", "read_lock"]

#: Name of the lock file in the run folder.
LOCK_FILE = ".run.lock"
#: A lock file younger than this whose content cannot be read is being written, not stale.
_WRITE_GRACE_S = 10.0


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, after the command name


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    now = _process_start(pid)
    return not (start and now and start != now)


def read_lock(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The content of a run folder's lock file (``None`` when there is none or it is
    unreadable)."""
    try:
        data = json.loads((Path(folder) / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class RunLock:
    """Exclusive lock on a run folder (context manager).

    Parameters
    ----------
    folder
        The run folder (created if missing).

    Raises
    ------
    RunLockedError
        On :meth:`acquire`, when a live run holds the folder (the message names its pid,
        host and start time).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _info(self) -> dict[str, Any]:
        pid = os.getpid()
        return {
            "pid": pid,
            "host": socket.gethostname(),
            "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "process_start": _process_start(pid),
        }

    def _open(self) -> int:
        """Open (or create) the lock file; the fd of the file now at ``self.path``."""
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return os.open(self.path, os.O_RDWR)

    def _refuse(self, fd: int, reason: str) -> None:
        os.close(fd)
        info = read_lock(self.folder) or {}
        raise RunLockedError(
            f"run folder {str(self.folder)!r} is in use by another run (pid "
            f"{info.get('pid', '?')} on host {info.get('host', '?')}, started "
            f"{info.get('started', '?')}): {reason}. Wait for it to finish, or write to another "
            f"folder. If no such run is active, remove {str(self.path)!r}."
        )

    def _stale_or_refuse(self, fd: int) -> None:
        """We hold the flock of an existing file: take it over if its holder is gone."""
        info = read_lock(self.folder)
        if info is None:
            age = time.time() - os.fstat(fd).st_mtime
            if os.fstat(fd).st_size == 0 or age > _WRITE_GRACE_S:
                return  # empty or unreadable for long: no holder wrote it
            fcntl.flock(fd, fcntl.LOCK_UN)
            self._refuse(fd, "its lock file is being written")
        if info.get("host") == socket.gethostname():
            pid = info.get("pid")
            if isinstance(pid, int) and pid != os.getpid():
                if _alive(pid, info.get("process_start")):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    self._refuse(fd, "its process is alive")
            return
        fcntl.flock(fd, fcntl.LOCK_UN)
        self._refuse(fd, "it runs on another host, whose process this host cannot check")

    def acquire(self) -> RunLock:
        """Take the lock (non-blocking); see the class for the errors."""
        if self._fd is not None:
            raise InputError(f"{str(self.path)!r}: this RunLock is already held")
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._refuse(fd, "it holds the lock")
            try:  # the file may have been removed and re-created since we opened it
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            self._stale_or_refuse(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(self._info()).encode("utf-8"), 0)
            os.fsync(fd)
            self._fd = fd
            return self
        raise RunLockedError(  # pragma: no cover - needs five lost races in a row
            f"run folder {str(self.folder)!r}: the lock file keeps changing; another run is "
            "starting. Try again."
        )

    def release(self) -> None:
        """Give the lock up and remove the lock file (no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                self.path.unlink()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
