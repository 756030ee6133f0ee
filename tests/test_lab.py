"""The analyst's workbench, tested with a real JupyterLab server on loopback.

The server runs with the project's settings (``jupytext.toml``, ``jupyter/overrides.json``, as
``make lab`` starts it) and a token. Through its REST API a ``.py`` notebook opens as a
notebook (the jupytext contents manager), the default viewer of ``.py`` files is the jupytext
notebook, saving a notebook with outputs leaves git clean, and a small notebook runs on a kernel
over the kernel's websocket (the lab's own protocol).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install -e '.[lab]')")
pytest.importorskip("jupytext")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on the repository, loopback only, with a random token."""
    tmp = tmp_path_factory.mktemp("lab")
    settings = tmp / "app_settings"
    settings.mkdir()
    shutil.copy(ROOT / "jupyter" / "overrides.json", settings / "overrides.json")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={ROOT}",
            f"--LabApp.app_settings_dir={settings}",
            f"--LabApp.user_settings_dir={tmp / 'user_settings'}",
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "server.log", "w"),  # noqa: SIM115 - closed with the process
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 45
    while True:
        try:
            _get(base, token, "/api/status")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(
                    "JupyterLab did not start:\n" + (tmp / "server.log").read_text()[-3000:]
                )
            time.sleep(0.3)
    yield base, token, port
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _request(base: str, token: str, path: str, method: str = "GET", body: dict | None = None):
    req = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback test server
        return json.loads(resp.read() or b"null")


def _get(base: str, token: str, path: str):
    return _request(base, token, path)


def test_the_server_refuses_requests_without_the_token(lab):
    base, _, _ = lab
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/api/contents/notebooks", timeout=10)  # noqa: S310
    assert err.value.code == 403


def test_py_notebook_opens_as_a_notebook_and_is_the_default_viewer(lab):
    base, token, _ = lab
    model = _get(base, token, "/api/contents/notebooks/dealer_report.py?type=notebook&content=1")
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    assert cells[0]["metadata"]["tags"] == ["parameters"]
    assert any("open_analysis" in "".join(c["source"]) for c in cells)
    plugin = _get(base, token, "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    # overrides.json becomes the schema's default (what the lab uses without user settings)
    viewers = plugin["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers["python"] == "Jupytext Notebook"
    factories = json.dumps(_get(base, token, "/lab/api/settings"))
    assert "jupyterlab-jupytext" in factories


def test_saving_executed_notebooks_leaves_git_clean(lab):
    """Every notebook saved through the server as the lab saves it after a run (outputs,
    execution counts, kernel and language metadata, cell timing) leaves the .py unchanged and
    git clean: outputs go only to the git-ignored .ipynb."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    base, token, _ = lab
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        path = f"notebooks/{source.name}"
        ipynb = source.with_suffix(".ipynb")
        had_ipynb = ipynb.exists()
        before = source.read_bytes()
        nb = _get(base, token, f"/api/contents/{path}?type=notebook&content=1")["content"]
        nb["metadata"]["language_info"] = {"name": "python", "version": sys.version.split()[0]}
        nb["metadata"]["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        for i, c in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
            c["execution_count"] = i + 1
            c["outputs"] = [{"output_type": "stream", "name": "stdout", "text": f"out {i}\n"}]
            c["metadata"]["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00Z"}
            c["metadata"]["scrolled"] = True
        try:
            _request(
                base,
                token,
                f"/api/contents/{path}",
                "PUT",
                {"type": "notebook", "format": "json", "content": nb},
            )
            assert ipynb.is_file(), "the paired .ipynb holds the outputs"
            assert source.read_bytes() == before, f"{path} changed on save"
            status = subprocess.run(
                ["git", "status", "--porcelain", "--", "notebooks"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert status == "", status
        finally:
            source.write_bytes(before)
            if not had_ipynb:
                ipynb.unlink(missing_ok=True)


async def _run_cells(port: int, token: str, kernel_id: str, cells: list[str]) -> list[dict]:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels"
    ws = await websocket_connect(HTTPRequest(url, headers={"Authorization": f"token {token}"}))
    session, results = uuid.uuid4().hex, []
    try:
        for code in cells:
            msg_id = uuid.uuid4().hex
            header = {
                "msg_id": msg_id,
                "session": session,
                "username": "test",
                "msg_type": "execute_request",
                "version": "5.3",
            }
            content = {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            }
            ws.write_message(
                json.dumps(
                    {
                        "header": header,
                        "parent_header": {},
                        "metadata": {},
                        "content": content,
                        "channel": "shell",
                    }
                )
            )
            outputs, reply = [], None
            while reply is None or not any(o.get("idle") for o in outputs):
                raw = await asyncio.wait_for(ws.read_message(), timeout=60)
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "execute_reply":
                    reply = msg["content"]
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    outputs.append({"idle": True})
                elif kind in ("stream", "execute_result", "display_data", "error"):
                    outputs.append({"type": kind, **msg["content"]})
            results.append({"reply": reply, "outputs": [o for o in outputs if "idle" not in o]})
    finally:
        ws.close()
    return results


def test_a_notebook_runs_on_a_kernel(lab):
    base, token, port = lab
    kernel = _request(base, token, "/api/kernels", "POST", {"name": "python3", "path": "notebooks"})
    try:
        cells = [
            "import os, sys\nprint(os.path.basename(os.getcwd()))",
            "from crm_analytics.sim import simulate_dealer\n"
            "from crm_analytics.metrics import funnel\n"
            "d = simulate_dealer(3, customers=200, years=1)\n"
            "tree = funnel.kpi_tree(d)\n"
            "print(len(tree) > 0, sorted(set(tree['unit'])) != [])",
            "sys.executable",
            "1/0",
        ]
        results = asyncio.run(_run_cells(port, token, kernel["id"], cells))
    finally:
        _request(base, token, f"/api/kernels/{kernel['id']}", "DELETE")
    assert results[0]["reply"]["status"] == "ok"
    assert results[0]["outputs"][0]["text"].strip() == "notebooks"
    assert results[1]["reply"]["status"] == "ok", results[1]
    assert "True True" in "".join(o.get("text", "") for o in results[1]["outputs"])
    assert results[2]["outputs"][0]["data"]["text/plain"].strip("'") == sys.executable
    assert results[3]["reply"]["status"] == "error"
    assert results[3]["outputs"][-1]["ename"] == "ZeroDivisionError"
