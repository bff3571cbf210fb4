"""The worker process boundary: real `python -m core worker` subprocesses driven by the real client."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    # Load the add-on's pure-Python modules by path: the add-on package itself needs bpy.
    spec = importlib.util.spec_from_file_location(f"_atelier_{name}", ROOT / "blender_addon" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


wc = _load("worker_client")
jf = _load("job_files")


@pytest.fixture()
def client(venv_python, tmp_path):
    c = wc.WorkerClient(venv_python, cwd=str(ROOT), log_path=str(tmp_path / "worker.log"))
    yield c
    c.shutdown(timeout=10)


def test_ping_check_setup_and_clean_shutdown(client, tmp_path):
    pong = client.request("ping", timeout=60)
    assert pong["event"] == "result" and pong["result"]["pong"] is True
    assert pong["result"]["protocol"] == 1
    pid = pong["result"]["pid"]
    assert client.pid == pid and client.alive()

    setup = client.request("check_setup", {"weights": str(tmp_path / "missing.pth")}, timeout=120)
    assert setup["event"] == "result", setup
    info = setup["result"]
    import torch

    assert info["torch"] == torch.__version__
    assert info["device"] == "cpu" and info["cuda_available"] is False
    assert info["weights_found"] is False and "missing.pth" in info["weights_message"]
    assert Path(info["python"]).exists()

    client.shutdown(timeout=10)
    assert not client.alive()
    assert "worker stopped" in client.last_stderr
    assert "worker exited with code 0" in (tmp_path / "worker.log").read_text()


PRINTING_WORKER = """
import os, sys
import core.worker as w
def noisy(worker, job):
    print("library chatter via print")
    os.write(1, b"C-level chatter on fd 1\\n")
    return {"ok": True}
w._HANDLERS["check_setup"] = noisy
from core.__main__ import main
sys.exit(main(["worker"]))
"""


def test_stdout_carries_only_protocol_and_eof_stops(venv_python):
    """Raw pipe: every stdout line is JSON even when a job prints (Python or C level); blank lines
    are ignored; end of stdin ends the process with code 0."""
    lines = [
        b'{"id": "p1", "type": "ping"}\n',
        b'not json\n',
        b'\n',
        b'{"id": "c1", "type": "check_setup"}\n',
    ]
    proc = subprocess.Popen([venv_python, "-c", PRINTING_WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdin.write(b"".join(lines))
    proc.stdin.flush()
    out = []
    while len(out) < 6:  # ready, pong, error, accepted, result
        line = proc.stdout.readline()
        assert line, proc.stderr.read().decode()
        out.append(json.loads(line))
        if out[-1]["event"] == "result" and out[-1]["id"] == "c1":
            break
    proc.stdin.close()  # EOF
    assert proc.wait(timeout=30) == 0
    rest, err = proc.stdout.read(), proc.stderr.read()
    assert proc.returncode == 0, err.decode()
    assert rest == b""
    assert [e["event"] for e in out] == ["ready", "result", "error", "accepted", "result"]
    assert out[2]["id"] is None and out[2]["kind"] == "protocol"
    assert out[4]["result"] == {"ok": True}
    assert b"library chatter via print" in err and b"C-level chatter on fd 1" in err
    assert b"worker stopped" in err
