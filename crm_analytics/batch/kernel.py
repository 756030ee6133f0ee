"""The Jupyter kernel a worker process keeps for the notebooks it executes.

A fresh kernel per notebook costs its start and the import of pandas, scikit-learn, SciPy and
the package (about 4-5 CPU seconds), which is half of a small dealer's report notebook. A worker
therefore keeps one kernel (per kernel name) and hands it to papermill for each notebook,
dealer after dealer. Before each notebook but the first the kernel is reset to what a fresh
kernel shows a notebook: the user namespace, the input history and the execution count
(``InteractiveShell.reset``), the open figures, and the warnings' once-per-location registries
(a changed filter list clears them), so a notebook sees neither the variables nor the
silenced warnings of the one before. Modules stay imported; the package keeps no dealer's
data at module level except the run analysis last opened (read once for all the notebooks of
a dealer, by the file's identity, and only read by them:
:func:`crm_analytics.report.notebook.open_analysis`), and the report style is set whole by
each notebook (:func:`crm_analytics.report.plots.apply_style`).

A kernel that failed a notebook, timed out or died is shut down and the next notebook gets a
new one; after :data:`REUSE_LIMIT` notebooks a kernel is replaced too, so memory a library
keeps for itself cannot grow without bound. Kernels are shut down when the worker exits.
"""

from __future__ import annotations

import contextlib
import multiprocessing.util
import os
import time
from collections.abc import Iterator
from queue import Empty
from typing import Any

from crm_analytics.report.notebook import KEPT_KERNEL_ENV

__all__ = ["QUIET", "REUSE_LIMIT", "WarmKernel", "warm_kernel"]

#: Notebooks a kernel executes before it is replaced by a new one. A kept kernel grew by about
#: 0.7 MiB per notebook while each notebook read the dealer's analysis again (a 20,000-customer
#: dealer's nine notebooks, 108 in a row: 408 -> 485 MiB) and by 5 MiB over 36 notebooks since
#: it reads it once; a new kernel costs its first dealer about 5.7 s of imports and warm-up.
REUSE_LIMIT = 360

#: Run between two notebooks (the figures and warnings first: ``reset`` deletes the names;
#: it also runs a full garbage collection, in IPython's displayhook flush). What survives that
#: collection is the kernel's own state (modules, IPython); it is then frozen out of the
#: collector's sight (``gc.freeze``), so the next reset's collection, and every automatic one
#: while a notebook runs, walks the notebook's objects only, not the quarter million of the
#: imported libraries again (0.22 s per reset before, 0.04 s after).
_RESET = """\
import sys as _sys, warnings as _warnings
if "matplotlib.pyplot" in _sys.modules:
    _sys.modules["matplotlib.pyplot"].close("all")
with _warnings.catch_warnings():
    pass
get_ipython().reset(new_session=True)
__import__("gc").freeze()
"""

#: ipykernel's start-up notice about its local TCP ports, once per kernel in the batch log;
#: cell errors still reach the notebook and the failure report.
QUIET = ["--IPKernelApp.log_level=CRITICAL"]


def _manager_class() -> type:
    # with papermill, in workers only
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class _Client(AsyncKernelClient):  # type: ignore[misc]
        """nbclient's client of a kept kernel, ready as soon as it is."""

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            """Ready once a ``kernel_info`` request is answered on the shell channel and its
            ``idle`` status arrives on IOPub (the subscription is live). jupyter_client's own
            wait then drains IOPub until 0.2 s pass without a message: on a kernel that is
            already running, a fixed 0.2 s per notebook for nothing."""
            deadline = time.monotonic() + (60.0 if timeout is None else timeout)
            while True:
                msg_id = self.kernel_info()
                try:
                    while True:
                        msg = await self.shell_channel.get_msg(timeout=1)
                        if msg["parent_header"].get("msg_id") == msg_id:
                            break
                    # protocol adaptation, as jupyter_client's own wait does (private there)
                    adapt = getattr(self, "_handle_kernel_info_reply", None)
                    if adapt is not None:
                        adapt(msg)
                    while True:  # Empty: subscribed after this request's status; ask again
                        st = await self.iopub_channel.get_msg(timeout=0.2)
                        if (
                            st["parent_header"].get("msg_id") == msg_id
                            and st["msg_type"] == "status"
                            and st["content"]["execution_state"] == "idle"
                        ):
                            return
                except Empty:
                    pass
                if not await self.is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    class _Manager(AsyncKernelManager):  # type: ignore[misc]
        """Remembers the clients nbclient opens on it (one per notebook, never closed by
        nbclient when it does not own the kernel), so they can be closed after each."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.opened: list[Any] = []
            self.client_factory = _Client

        def client(self, **kwargs: Any) -> Any:
            kc = super().client(**kwargs)
            self.opened.append(kc)
            return kc

    return _Manager


class WarmKernel:
    """One kernel of ``kernel_name``, reused notebook after notebook (see the module notes)."""

    def __init__(self, kernel_name: str) -> None:
        self.kernel_name = kernel_name
        self.km: Any = None
        self.kc: Any = None  # the client of the resets, connected once per kernel
        self.executed = 0

    @contextlib.contextmanager
    def lease(self) -> Iterator[Any]:
        """A started kernel manager for one notebook (pass it to papermill as ``km``). An
        exception raised inside discards the kernel; the next lease starts a new one."""
        km = self._ready()
        try:
            yield km
        except BaseException:
            self.close()
            raise
        finally:
            for kc in km.opened:
                with contextlib.suppress(Exception):
                    kc.stop_channels()
            km.opened.clear()

    def close(self) -> None:
        """Shut the kernel down (nothing when none is running)."""
        from jupyter_core.utils import run_sync  # with papermill, in workers only

        km, kc, self.km, self.kc, self.executed = self.km, self.kc, None, None, 0
        if kc is not None:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        if km is None:
            return
        with contextlib.suppress(Exception):
            run_sync(km.shutdown_kernel)(now=True)
        with contextlib.suppress(Exception):
            run_sync(km.cleanup_resources)()

    def _ready(self) -> Any:
        from jupyter_core.utils import run_sync  # with papermill, in workers only

        if self.km is not None and (
            self.executed >= REUSE_LIMIT or not run_sync(self.km.is_alive)() or not self._reset()
        ):
            self.close()
        if self.km is None:
            self.km = _manager_class()(kernel_name=self.kernel_name)
            try:
                env = {**os.environ, KEPT_KERNEL_ENV: "1"}  # a dealer's analysis read once
                run_sync(self.km.start_kernel)(extra_arguments=QUIET, env=env)
            except BaseException:
                self.close()
                raise
        self.executed += 1
        return self.km

    def _reset(self) -> bool:
        """Reset the kernel between two notebooks; False when it did not answer cleanly.

        One client per kernel, on the shell channel only: the execute reply comes once the
        reset is done, so nothing is read from IOPub (a new client per reset cost a quarter of
        a second of waiting per notebook: its ``wait_for_ready`` drains IOPub until 0.2 s pass
        without a message)."""
        from jupyter_client import BlockingKernelClient  # with papermill, in workers only

        try:
            if self.kc is None:
                self.kc = BlockingKernelClient()
                self.kc.load_connection_info(self.km.get_connection_info())
                self.kc.start_channels(iopub=False, stdin=False, hb=False, control=False)
            msg_id = self.kc.execute(_RESET, silent=True, store_history=False)
            deadline = time.monotonic() + 60
            while True:
                reply = self.kc.get_shell_msg(timeout=max(0.0, deadline - time.monotonic()))
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply["content"]["status"] == "ok"
        except Exception:  # noqa: BLE001 - a kernel that cannot be reset is replaced
            return False


_KERNELS: dict[str, WarmKernel] = {}


def warm_kernel(kernel_name: str) -> WarmKernel:
    """This process's kernel of ``kernel_name`` (created on first use, shut down at exit)."""
    if not _KERNELS:
        # pool workers leave through multiprocessing's exit hooks, other processes through
        # atexit; Finalize with an exit priority covers both
        multiprocessing.util.Finalize(None, _close_all, exitpriority=10)
    if kernel_name not in _KERNELS:
        _KERNELS[kernel_name] = WarmKernel(kernel_name)
    return _KERNELS[kernel_name]


def _close_all() -> None:
    for kernel in _KERNELS.values():
        kernel.close()
