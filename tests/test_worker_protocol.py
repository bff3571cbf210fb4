"""The worker process boundary: real `python -m core worker` subprocesses, the real client, a\nkilled worker, and a few hundred malformed requests."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import queue
import time
from pathlib import Path

import numpy as np
import pytest

from _worker_helpers import ROOT, load_addon_module

wc = load_addon_module("worker_client")
jf = load_addon_module("job_files")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One client for the module (worker start-up costs seconds); the kill test leaves it with a fresh worker."""
    c = wc.WorkerClient(sys.executable, cwd=str(ROOT), log_path=str(tmp_path_factory.mktemp("log") / "worker.log"))
    yield c
    c.shutdown(timeout=10)


def test_ping_and_check_setup(client, tmp_path):
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



PRINTING_WORKER = """
import os, sys
import core.protocol as protocol, core.tasks as tasks
def noisy(worker, task):
    print("library chatter via print")
    os.write(1, b"C-level chatter on fd 1\\n")
    return {"ok": True}
tasks.HANDLERS["check_setup"] = noisy
def failing(worker, task):
    what = task.spec.get("what")
    if what == "oom":
        raise MemoryError()
    if what == "cuda-oom":
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    raise RuntimeError("boom\\nsecond line")
protocol.SPECS.pop("texture_generate")  # hand the raw params to the failing handler
tasks.HANDLERS["texture_generate"] = failing
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
    # Engine failures: an error event each (one line), and the worker keeps serving.
    for what in ("boom", "oom", "cuda-oom"):
        proc.stdin.write(json.dumps({"id": what, "type": "texture_generate", "params": {"what": what}}).encode() + b"\n")
    proc.stdin.write(b'{"id": "p9", "type": "ping"}\n')
    proc.stdin.flush()
    finals = {}
    while len(finals) < 4:  # ping is answered at once, the jobs after their turn
        ev = json.loads(proc.stdout.readline())
        if ev["event"] != "accepted":
            finals[ev["id"]] = ev
    assert finals["boom"]["kind"] == "internal" and finals["boom"]["message"] == "RuntimeError: boom second line"
    for what in ("oom", "cuda-oom"):
        assert finals[what]["kind"] == "user" and finals[what]["message"].startswith("out of memory: try a smaller size")
    assert finals["p9"]["event"] == "result"
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
    assert b"Traceback" in err and b"RuntimeError: boom" in err  # the traceback goes to the log


def test_client_imports_without_third_party_packages(venv_python):
    """-S -I: no site-packages at all (so no numpy, torch or bpy), as in any foreign Python."""
    code = ("import importlib.util, sys; p = sys.argv[1]; "
            "spec = importlib.util.spec_from_file_location('wc', p); m = importlib.util.module_from_spec(spec); "
            "spec.loader.exec_module(m); m.WorkerClient('python'); "
            "assert not {'numpy', 'torch', 'bpy'} & set(sys.modules), sorted(sys.modules); print('ok')")
    out = subprocess.run([venv_python, "-S", "-I", "-c", code, str(ROOT / "blender_addon" / "worker_client.py")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def _long_job(job_dir: Path, name: str = "long") -> dict:
    """A stylize job that would run for hours: offline backbone (no weights file), Adam steps of a
    fraction of a second at 32 px, so it reports progress at once and notices a cancel quickly."""
    image = jf.write_npy(job_dir / f"{name}-in.npy", np.random.default_rng(0).random((32, 32, 3)))
    return {"content": image, "style": image, "output": str(job_dir / f"{name}.npy"), "job_dir": str(job_dir),
            "options": {"backbone": "offline", "method": "gatys", "size": 32, "steps": 100000, "preview_every": 0}}


@pytest.mark.slow
def test_killed_worker_gives_clear_error_and_next_submit_starts_fresh(client, tmp_path):
    job_dir = Path(jf.new_job_dir(tmp_path))
    job = client.submit("stylize", _long_job(job_dir))
    other = client.submit("ping", {})  # answered before the kill
    old_pid = None
    deadline = time.monotonic() + 120
    while old_pid is None and time.monotonic() < deadline:
        for ev in client.poll():
            if ev["id"] == job and ev["event"] == "progress":
                old_pid = client.pid
        time.sleep(0.02)
    assert old_pid, "training never reported progress"
    queued = client.submit("stylize", _long_job(job_dir, "second"))  # waits behind the first; dies with it
    time.sleep(0.2)
    os.kill(old_pid, signal.SIGKILL)
    for jid in (job, queued):
        final = client.wait(jid, timeout=20)
        assert final["event"] == "error" and final["kind"] == "internal", final
        assert "exited unexpectedly" in final["message"] and "SIGKILL" in final["message"], final["message"]
        assert final["exit_code"] == -signal.SIGKILL
    assert client.wait(other, timeout=5)["event"] == "result"
    assert not client.alive()
    assert not (job_dir / "long.npy").exists()

    pong = client.request("ping", timeout=60)
    assert pong["event"] == "result" and pong["result"]["pid"] != old_pid
    assert client.alive() and client.pid == pong["result"]["pid"]


def test_worker_that_cannot_start(tmp_path):
    with pytest.raises(wc.WorkerDied, match="could not start the worker"):
        wc.WorkerClient(str(tmp_path / "no-such-python")).submit("ping", {})
    # A Python that starts but has no `core` package: the job fails with the worker's own words.
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\necho 'No module named core' >&2\nexit 3\n")
    script.chmod(0o755)
    c = wc.WorkerClient(str(script), cwd=str(tmp_path))
    final = c.request("ping", timeout=20)
    assert final["event"] == "error" and final["exit_code"] == 3
    assert "exited unexpectedly (code 3): No module named core" in final["message"]
    c.shutdown()


@pytest.mark.slow
def test_shutdown_cancels_running_job(venv_python, tmp_path):
    job_dir = Path(jf.new_job_dir(tmp_path))
    log = tmp_path / "worker.log"
    c = wc.WorkerClient(venv_python, cwd=str(ROOT), log_path=str(log))
    job = c.submit("stylize", _long_job(job_dir))
    deadline = time.monotonic() + 120
    while not any(e["event"] == "progress" for e in c.poll()) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc = c._proc
    c.shutdown(timeout=20)
    assert proc.returncode == 0  # stopped by request, not killed
    assert c.wait(job, timeout=1)["event"] == "cancelled"
    assert not (job_dir / "long.npy").exists()
    assert not c.alive() and "worker stopped" in c.last_stderr
    assert "worker exited with code 0 (requested)" in log.read_text()
    c.shutdown()  # again: harmless


@pytest.mark.slow
def test_stdin_eof_mid_job_cancels_and_exits(venv_python, tmp_path):
    """Blender quitting closes the pipe: the running job is cancelled and the worker exits 0."""
    job_dir = Path(jf.new_job_dir(tmp_path))
    w = RawWorker(venv_python)
    try:
        w.send(json.dumps({"id": "t", "type": "stylize", "params": _long_job(job_dir)}).encode() + b"\n")
        seen = []
        while not seen or seen[-1]["event"] != "progress":
            seen.append(w.next(120))
        w.proc.stdin.close()
        assert w.proc.wait(timeout=30) == 0
        time.sleep(0.2)
        rest = []
        while not w.events.empty():
            rest.append(w.events.get())
        assert [e["event"] for e in rest if e["event"] != "progress"] == ["cancelled"]
        assert not (job_dir / "long.npy").exists()
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def test_poll_and_wait_share_events_without_losing_any(client, venv_python):
    a = client.submit("ping", {})
    b = client.submit("ping", {})
    assert client.wait(b, timeout=60)["event"] == "result"  # a's events are kept for poll()
    polled = client.poll()
    assert [(e["id"], e["event"]) for e in polled] == [(a, "result")]
    assert client.poll() == []
    assert client.wait(a, timeout=1)["id"] == a  # a final already polled is still available to wait()
    with pytest.raises(KeyError):
        client.wait("never-submitted", timeout=1)


@pytest.mark.slow
def test_wait_timeout_leaves_the_job_running(client, tmp_path):
    job_dir = Path(jf.new_job_dir(tmp_path))
    job = client.submit("stylize", _long_job(job_dir))
    with pytest.raises(TimeoutError):
        client.wait(job, timeout=0.5)
    assert client.request("ping", timeout=30)["result"]["running"] in (job, None)
    client.cancel(job)
    assert client.wait(job, timeout=60)["event"] == "cancelled"


# --- fuzzing ---------------------------------------------------------------------------------

class RawWorker:
    """A worker on raw pipes, for bytes the client would never send."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen([python, "-m", "core", "worker", "--log-level", "WARNING"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.events: "queue.Queue[dict]" = queue.Queue()
        self.stdout_junk: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()  # drain the log

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.stdout_junk.append(line)

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def next(self, timeout: float) -> dict:
        return self.events.get(timeout=timeout)


def _fuzz_lines(job_dir: Path, outside: Path, rng: random.Random) -> list[tuple[bytes, str | None]]:
    """(line, id the error must carry or None). Every line is invalid in some way."""
    good = jf.write_npy(job_dir / "good.npy", np.zeros((8, 8, 3)))
    (job_dir / "garbage.npy").write_bytes(os.urandom(64))
    np.save(job_dir / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(job_dir / "strings.npy", np.array([["a", "b"]]))
    np.save(job_dir / "fourd.npy", np.zeros((2, 2, 2, 2), np.float32))
    (outside / "exists.npy").write_bytes(b"x")
    out_ok = str(job_dir / "never.npy")
    lines: list[tuple[bytes, str | None]] = []
    n = iter(range(1_000_000))

    def req(kind, params, rid=None) -> None:
        rid = rid or f"f{next(n)}"
        lines.append((json.dumps({"id": rid, "type": kind, "params": params}).encode(), rid))

    # Garbage bytes, non-JSON, JSON that is not a request, bad ids.
    for _ in range(60):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).replace(b"\n", b"")
        if raw.strip():
            lines.append((raw, None))
    for raw in [b"{", b"}", b"[]", b"null", b"true", b"42", b'"ping"', b"{'id': 1}", b"\xff\xfe{}",
                b'{"id": "x", "type": "ping"', b"[" * 50000 + b"]" * 50000, b'{"type": "ping"}',
                b'{"id": 7, "type": "ping"}', b'{"id": "", "type": "ping"}', b'{"id": ["a"], "type": "ping"}',
                b'{"id": "' + b"a" * 300 + b'", "type": "ping"}', b'{"id": null, "type": "ping"}']:
        lines.append((raw, None))
    # NaN / huge numbers: rejected, but the id is salvaged.
    lines.append((b'{"id": "nan1", "type": "stylize", "params": {"options": {"size": NaN}}}', "nan1"))
    lines.append((b'{"id": "big1", "type": "texture_generate", "params": {"width": 1' + b"0" * 400 + b"}}", "big1"))
    lines.append((b'{"id": "inf1", "type": "ping", "params": {"x": -Infinity}}', "inf1"))
    # Wrong type / params shapes.
    for kind in [None, 3, [], {}, "", "PING", "rm -rf /", "x" * 1000, "stylize ", "__init__"]:
        rid = f"f{next(n)}"
        lines.append((json.dumps({"id": rid, "type": kind, "params": {}}).encode(), rid))
    for params in [[], "s", 3, True]:
        req("stylize", params)
        req("ping", params)
    # Cancel without a proper target.
    for params in [{}, {"job": 3}, {"job": ""}, {"job": None}, {"target": "x"}]:
        req("cancel", params)
    # Stylize: missing fields, wrong types, paths outside, files that are not images.
    base = {"content": good, "style": good, "output": out_ok, "job_dir": str(job_dir)}
    variants = []
    for key in ("content", "style", "output"):
        variants.append({k: v for k, v in base.items() if k != key})
        for bad in [3, [], {}, "", True, 1e308, -1, "relative/path.npy", "/dev/null", str(job_dir),
                    "\u0000/x.npy", "/" + "a" * 5000 + ".npy"]:
            variants.append({**base, key: bad})
        if key != "output":
            variants.append({**base, key: str(job_dir / "missing.npy")})
    variants += [
        {**base, "output": str(outside / "out.npy")},
        {**base, "output": str(outside / "exists.npy")},
        {**base, "output": str(job_dir / ".." / "escape.npy")},
        {**base, "output": "/etc/passwd"},
        {**base, "output": str(job_dir / "good.npy")},  # exists, and is an input
        {**base, "output": str(job_dir / "no-folder" / "x.npy")},
        {**base, "job_dir": str(outside / "nope")},
        {**base, "job_dir": 5},
        {**base, "masks": "x"},
        {**base, "masks": [good, good]},
        {**base, "style": [good] * 100},
        {**base, "options": "fast"},
        {**base, "options": [1]},
        {**base, "overwrite": "yes"},
    ]
    for f in ("garbage.npy", "pickled.npy", "strings.npy", "fourd.npy"):
        variants.append({**base, "style": str(job_dir / f)})  # accepted, then fails when read
    for opts in [{"steps": -3}, {"size": 10**18}, {"bogus": True}, {"method": "magic"}, {"steps": "many"},
                 {"device": "tpu"}, {"style_scale": 1e300}, {"tileable": "yes"}, {"backbone": 7}]:
        variants.append({**base, "options": opts})
    for v in variants:
        req("stylize", v)
    # Texture jobs.
    tbase = {"exemplars": [good], "checkpoint": str(job_dir / "t.pt")}
    for v in [{}, {**tbase, "exemplars": []}, {**tbase, "exemplars": [3]}, {**tbase, "exemplars": good + "x"},
              {**tbase, "checkpoint": str(job_dir / "t.npy")},
              {**tbase, "map_names": ["a", "b"]}, {**tbase, "resume": str(job_dir / "none.pt")},
              {**tbase, "resume": good}, {**tbase, "options": {"steps": 0}}, {**tbase, "options": {"model": "vae"}},
              {**tbase, "options": {"patch": 10**9}}, {**tbase, "job_dir": str(outside)}]:
        req("texture_train", v)
    (job_dir / "fake.pt").write_bytes(os.urandom(100))
    gbase = {"checkpoint": str(job_dir / "fake.pt"), "width": 16, "height": 16, "output_dir": str(job_dir)}
    for v in [{}, {**gbase, "width": 0}, {**gbase, "height": -5}, {**gbase, "width": 10**15},
              {**gbase, "width": 1.5}, {**gbase, "width": "64"}, {**gbase, "seed": -1}, {**gbase, "tileable": 1},
              {**gbase, "output_dir": str(outside / "nope")}, {**gbase, "output_dir": good},
              {**gbase, "job_dir": str(outside)}, {**gbase, "checkpoint": good}, gbase]:  # gbase: corrupt .pt
        req("texture_generate", v)
    # Random structured junk.
    keys = ["content", "style", "output", "exemplars", "checkpoint", "width", "options", "job_dir", "masks"]
    values = [None, 0, -1, 2**62, 1.5, "", "x", [], {}, [None], {"a": [1, {"b": 2}]}, str(outside), "..", "~/x.npy"]
    for _ in range(120):
        kind = rng.choice(["stylize", "texture_train", "texture_generate"])
        params = {k: rng.choice(values) for k in rng.sample(keys, rng.randrange(0, len(keys)))}
        req(kind, params)
    return lines


@pytest.mark.slow
def test_fuzz_malformed_requests_get_errors_and_never_hang(venv_python, tmp_path):
    job_dir = Path(jf.new_job_dir(tmp_path))
    outside = tmp_path / "outside"
    outside.mkdir()
    lines = _fuzz_lines(job_dir, outside, random.Random(1234))
    assert len(lines) > 300
    before_job, before_out = sorted(os.listdir(job_dir)), sorted(os.listdir(outside))

    w = RawWorker(venv_python)
    try:
        assert w.next(60)["event"] == "ready"
        for raw, _ in lines:
            w.send(raw + b"\n")
        w.send(b"x" * (2 * 1024 * 1024) + b"\n")  # over-long line: rejected, stream resyncs
        w.send(b'{"id": "after", "type": "ping"}\n')

        expected_ids = [rid for _, rid in lines if rid]
        null_errors_expected = sum(1 for _, rid in lines if rid is None) + 1
        finals: dict[str, dict] = {}
        null_errors = 0
        pong = None
        deadline = time.monotonic() + 90
        while (pong is None or len(finals) < len(expected_ids)) and time.monotonic() < deadline:
            ev = w.next(max(0.1, deadline - time.monotonic()))
            rid = ev["id"]
            if rid == "after":
                pong = ev
            elif rid is None:
                assert ev["event"] == "error" and ev["kind"] == "protocol", ev
                null_errors += 1
            elif ev["event"] in ("result", "error", "cancelled"):
                assert rid not in finals, f"two final events for {rid}"
                finals[rid] = ev
        missing = [rid for rid in expected_ids if rid not in finals]
        assert not missing, f"no answer for {len(missing)} requests, e.g. {missing[:5]}"
        assert null_errors == null_errors_expected
        bad = {rid: ev for rid, ev in finals.items() if ev["event"] != "error"}
        assert not bad, bad
        for ev in finals.values():
            assert ev["kind"] in ("user", "protocol", "internal") and ev["message"] and "\n" not in ev["message"]
        assert pong["event"] == "result" and pong["result"]["pong"] is True
        assert w.stdout_junk == []
        # Nothing was written anywhere, in the job folder or outside it.
        assert sorted(os.listdir(job_dir)) == before_job
        assert sorted(os.listdir(outside)) == before_out
        w.proc.stdin.close()
        assert w.proc.wait(timeout=30) == 0
    finally:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
