"""The kernel a batch worker keeps from notebook to notebook (crm_analytics.batch.kernel): each
notebook sees what a fresh kernel would show it, and a kernel that failed is never reused."""

from __future__ import annotations

import json

import nbformat
import pytest

from crm_analytics.batch import kernel as warm
from crm_analytics.batch.runner import KERNEL_NAME

pm = pytest.importorskip("papermill")

#: The first notebook leaves a variable, a figure, a warning from a module and a changed
#: execution count behind; the second reports what it can see of them.
FIRST = [
    "import warnings, matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt",
    "left_behind = 42\nplt.figure()\nwarnings.warn('once per place', UserWarning)",
    "import json as _json",
]
PROBE = (
    "import os, warnings, matplotlib.pyplot as plt\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('default')\n"
    "    for _ in range(2):\n"
    "        warnings.warn('seen again', UserWarning)\n"
    "print(json.dumps({'pid': os.getpid(), 'left': 'left_behind' in globals(),\n"
    "    'figures': plt.get_fignums(), 'warned': len(caught)}))"
)


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "language": "python", "display_name": "k"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def _run(kernel, src, out, **kw):
    with kernel.lease() as km:
        return pm.execute_notebook(
            str(src), str(out), kernel_name=KERNEL_NAME, km=km, progress_bar=False, **kw
        )


def _probe(kernel, tmp_path, name="probe"):
    src = _notebook(tmp_path / f"{name}.ipynb", ["import json", PROBE])
    nb = _run(kernel, src, tmp_path / f"{name}.out.ipynb")
    counts = [c.execution_count for c in nb.cells]
    return json.loads(nb.cells[-1].outputs[0]["text"]), counts


def test_a_kept_kernel_shows_each_notebook_a_fresh_session(tmp_path):
    kernel = warm.WarmKernel(KERNEL_NAME)
    try:
        first = _notebook(tmp_path / "first.ipynb", FIRST)
        nb = _run(kernel, first, tmp_path / "first.out.ipynb")
        assert [c.execution_count for c in nb.cells] == [1, 2, 3]
        seen, counts = _probe(kernel, tmp_path)
        # the same process, reset: no variable, no figure, execution counts from 1
        assert not seen["left"] and seen["figures"] == [], seen
        assert counts == [1, 2]
        again, _ = _probe(kernel, tmp_path, "probe2")
        assert again["pid"] == seen["pid"]
        assert kernel.executed == 3
    finally:
        kernel.close()
    assert kernel.km is None


def test_a_warning_shown_by_one_notebook_is_shown_by_the_next(tmp_path):
    """Python shows a 'default' warning once per code location and process; a kept kernel
    would hide a warning the previous dealer's notebook already showed."""
    mod = tmp_path / "warner.py"
    mod.write_text(
        "import warnings\n\ndef warn():\n    warnings.warn('dealer note', UserWarning)\n"
    )
    cells = [f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport warner\nwarner.warn()"]
    src = _notebook(tmp_path / "warns.ipynb", cells)
    kernel = warm.WarmKernel(KERNEL_NAME)
    try:
        for i in range(2):
            nb = _run(kernel, src, tmp_path / f"warns{i}.out.ipynb")
            text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
            assert "dealer note" in text, (i, nb.cells[0].outputs)
    finally:
        kernel.close()


def test_a_kernel_that_failed_or_timed_out_is_replaced(tmp_path, monkeypatch):
    kernel = warm.WarmKernel(KERNEL_NAME)
    try:
        pid = _probe(kernel, tmp_path, "a")[0]["pid"]
        bad = _notebook(tmp_path / "bad.ipynb", ["raise RuntimeError('broken dealer')"])
        with pytest.raises(pm.PapermillExecutionError):
            _run(kernel, bad, tmp_path / "bad.out.ipynb")
        assert kernel.km is None
        after_failure = _probe(kernel, tmp_path, "b")[0]["pid"]
        assert after_failure != pid
        slow = _notebook(tmp_path / "slow.ipynb", ["import time\ntime.sleep(60)"])
        with pytest.raises(Exception, match="(?i)timed? ?out"):
            _run(kernel, slow, tmp_path / "slow.out.ipynb", execution_timeout=2)
        assert kernel.km is None
        after_timeout = _probe(kernel, tmp_path, "c")[0]["pid"]
        assert after_timeout not in (pid, after_failure)
        # and after REUSE_LIMIT notebooks a kernel is replaced however well it went
        monkeypatch.setattr(warm, "REUSE_LIMIT", 2)
        assert _probe(kernel, tmp_path, "d")[0]["pid"] == after_timeout
        assert _probe(kernel, tmp_path, "e")[0]["pid"] != after_timeout
    finally:
        kernel.close()


def test_no_client_is_left_open_between_notebooks(tmp_path):
    """nbclient opens a client per notebook and leaves it open when it does not own the
    kernel: each is closed after its notebook, also after a failure."""
    import os

    kernel = warm.WarmKernel(KERNEL_NAME)
    bad = _notebook(tmp_path / "bad.ipynb", ["raise RuntimeError('broken dealer')"])
    try:
        _probe(kernel, tmp_path, "warm")
        fds = len(os.listdir("/proc/self/fd"))
        for i in range(4):
            _probe(kernel, tmp_path, f"n{i}")
            with pytest.raises(pm.PapermillExecutionError):
                _run(kernel, bad, tmp_path / f"bad{i}.out.ipynb")
        _probe(kernel, tmp_path, "last")
        assert len(os.listdir("/proc/self/fd")) <= fds + 2
    finally:
        kernel.close()
