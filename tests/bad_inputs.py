"""The bad-input matrix (issue 8) as data: fixture files, CLI rows and worker rows, plus runners that
drive one checkout's `python -m core` (all CLI rows in one subprocess) and worker (one process).

tests/test_bad_inputs.py asserts every row; run this file as a script to count a checkout's rows
for the before/after table:   python tests/bad_inputs.py --root /path/to/checkout
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEMP_SUFFIXES = (".part", ".tmp", ".probe")
MEMORY_GB = "4"  # NEURAL_ATELIER_MEMORY_GB for every row: memory refusals do not depend on the machine
ADDRESS_SPACE = 8 << 30  # rows run under this RLIMIT_AS, so an old build cannot eat the machine
ROW_SECONDS = 240  # a CLI row still running after this long has failed (an old build computing a huge job)


# --------------------------------------------------------------------------- fixtures

def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height RGB pixels (one small compressed row follows)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)), 9)) + _png_chunk(b"IEND", b""))


class _RunsCode:
    """Unpickling this writes a marker file: a loader that runs it has executed foreign code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_fixtures(folder: Path) -> dict[str, Path]:
    """Every input file the rows use. Returns name -> path."""
    import cv2
    import torch
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    f: dict[str, Path] = {}

    def png(name: str, arr: np.ndarray) -> None:
        f[name] = folder / name
        cv2.imwrite(str(f[name]), arr)

    png("content.png", (rng.random((32, 32, 3)) * 255).astype(np.uint8))
    png("style.png", (rng.random((32, 32, 3)) * 255).astype(np.uint8))
    png("style16.png", (rng.random((32, 32, 3)) * 65535).astype(np.uint16))
    png("grey.png", (rng.random((32, 32)) * 255).astype(np.uint8))
    Image.fromarray((rng.random((32, 32, 2)) * 255).astype(np.uint8), "LA").save(folder / "grey_alpha.png")
    png("rgba.png", (rng.random((32, 32, 4)) * 255).astype(np.uint8))
    Image.fromarray(rng.random((32, 32)) > 0.5).save(folder / "onebit.png")
    Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).convert("P").save(folder / "palette.png")
    for name in ("grey_alpha.png", "onebit.png", "palette.png"):
        f[name] = folder / name
    png("one_pixel.png", np.zeros((1, 1, 3), np.uint8))
    png("exemplar4.png", (rng.random((4, 4, 3)) * 255).astype(np.uint8))
    png("exemplar.png", (rng.random((32, 32, 3)) * 255).astype(np.uint8))
    # float TIFFs are grey: OpenCV's 3-channel float TIFF writer turns NaN into 0
    nan = np.full((32, 32), np.nan, np.float32)
    f["all_nan.tif"] = folder / "all_nan.tif"
    cv2.imwrite(str(f["all_nan.tif"]), nan)
    some = rng.random((32, 32)).astype(np.float32)
    some[:4, :4] = np.nan
    some[5, 5] = np.inf
    f["some_nan.tif"] = folder / "some_nan.tif"
    cv2.imwrite(str(f["some_nan.tif"]), some)
    for name, data in (("empty.png", b""), ("not_an_image.png", b"hello, this is text\n" * 20),
                       ("truncated.png", f["content.png"].read_bytes()[:200]), ("bomb_60000.png", bomb_png(60000, 60000)),
                       ("bomb_20000.png", bomb_png(20000, 20000)), ("style.gif", b"GIF89a")):
        f[name] = folder / name
        f[name].write_bytes(data)
    marker = folder.parent / "PWNED"
    f["marker"] = marker
    for name in ("malicious.pth", "malicious.pt"):
        f[name] = folder / name
        with open(f[name], "wb") as fh:
            pickle.dump(_RunsCode(str(marker)), fh)
    f["random.pth"] = folder / "random.pth"
    f["random.pth"].write_bytes(rng.bytes(4096))
    f["random.pt"] = folder / "random.pt"
    f["random.pt"].write_bytes(rng.bytes(4096))
    f["wrong_keys.pth"] = folder / "wrong_keys.pth"
    torch.save({"foo.weight": torch.zeros(3)}, f["wrong_keys.pth"])
    # texture checkpoints made by this checkout: one map, and two maps (the small one first, so a
    # full disk fails on the second file)
    sys.path.insert(0, str(ROOT))
    from core import texture

    one = texture.train((rng.random((32, 32, 3))).astype(np.float32),
                        {"model": "psgan", "steps": 1, "patch": 16, "batch": 1, "device": "cpu"})
    f["model.pt"] = one.save(folder / "model.pt")
    two = texture.train([rng.random((32, 32, 1)).astype(np.float32), rng.random((32, 32, 3)).astype(np.float32)],
                        {"model": "psgan", "steps": 1, "patch": 16, "batch": 1, "device": "cpu"},
                        map_names=["roughness", "albedo"])
    f["two_maps.pt"] = two.save(folder / "two_maps.pt")
    # worker inputs
    for name, arr in (("content.npy", rng.random((32, 32, 3)).astype(np.float32)),
                      ("style.npy", rng.random((32, 32, 3)).astype(np.float32)),
                      ("tiny.npy", np.zeros((1, 1, 3), np.float32)),
                      ("all_nan.npy", np.full((32, 32, 3), np.nan, np.float32)),
                      ("existing_result.npy", np.ones((8, 8, 3), np.float32))):
        f[name] = folder / name
        np.save(f[name], arr)
    f["pickled.npy"] = folder / "pickled.npy"
    np.save(f["pickled.npy"], np.array([_RunsCode(str(marker))], dtype=object), allow_pickle=True)
    return f


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def changed_inputs(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Pre-existing input files that are gone or different."""
    return [n for n in before if after.get(n) != before[n]]


def temp_leftovers(*folders: Path) -> list[str]:
    return [str(p) for d in folders if d.is_dir() for p in d.iterdir() if p.name.endswith(TEMP_SUFFIXES)]


# --------------------------------------------------------------------------- special folders

@dataclass
class Places:
    """Fixture folder, a scratch folder, a read-only folder and a nearly full one (tmpfs mounts
    when this process may mount, else None: those rows are skipped)."""
    inputs: Path
    scratch: Path
    read_only: Optional[Path]
    full: Optional[Path]
    mounted: list[Path] = field(default_factory=list)

    def cleanup(self) -> None:
        for m in self.mounted:
            subprocess.run(["umount", str(m)], capture_output=True)


def make_places(base: Path) -> Places:
    inputs, scratch = base / "inputs", base / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    places = Places(inputs, scratch, None, None)
    ro, full = base / "read_only", base / "full"
    for path, opts in ((ro, "ro,size=64k"), (full, "size=64k")):
        path.mkdir()
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode == 0
        if ok:
            places.mounted.append(path)
    if ro in places.mounted:
        places.read_only = ro
    elif os.geteuid() != 0:
        ro.chmod(0o555)  # without root, permissions are enough
        places.read_only = ro
    if full in places.mounted:
        (full / "filler").write_bytes(b"\0" * 60 * 1024)  # leaves one 4 KB page: a small first map fits, the second not
        places.full = full
    return places


# --------------------------------------------------------------------------- CLI rows

@dataclass
class Row:
    id: str
    argv: list[str]
    rc: int
    says: str = ""  # a phrase the one-line message (stderr) must contain, case-insensitive
    absent: list[str] = field(default_factory=list)  # outputs that must not exist afterwards
    needs: str = ""  # 'read_only' / 'full': skipped where that folder is unavailable
    exists: list[str] = field(default_factory=list)  # outputs that must exist (success rows)


def cli_rows(f: dict[str, Path], pl: Places) -> list[Row]:
    s = str
    c, st, out = s(f["content.png"]), s(f["style.png"]), s(pl.scratch / "out.png")
    fast = ["--backbone", "offline", "--steps", "1", "--method", "gatys"]
    ro = s(pl.read_only) if pl.read_only else "/nonexistent-ro"
    full = s(pl.full) if pl.full else "/nonexistent-full"
    rows = [
        # data loss: the output is an input
        Row("stylize -o CONTENT", ["stylize", c, st, "-o", c, *fast], 2, "input"),
        Row("stylize -o STYLE", ["stylize", c, st, "-o", st, *fast], 2, "input"),
        Row("texture train -o RESUMED", ["texture", "train", s(f["exemplar.png"]), "-o", s(f["model.pt"]),
                                         "--resume", s(f["model.pt"]), "--steps", "2"], 2, "input"),
        # unreadable inputs
        Row("content missing", ["stylize", s(pl.inputs / "nope.png"), st, "-o", out, *fast], 2, "not found", [out]),
        Row("content zero bytes", ["stylize", s(f["empty.png"]), st, "-o", out, *fast], 2, "", [out]),
        Row("content truncated", ["stylize", s(f["truncated.png"]), st, "-o", out, *fast], 2, "", [out]),
        Row("content not an image", ["stylize", s(f["not_an_image.png"]), st, "-o", out, *fast], 2, "", [out]),
        Row("style unsupported format", ["stylize", c, s(f["style.gif"]), "-o", out, *fast], 2, "format", [out]),
        Row("content bomb 60000x60000", ["stylize", s(f["bomb_60000.png"]), st, "-o", out, *fast], 2, "", [out]),
        Row("content bomb 20000x20000", ["stylize", s(f["bomb_20000.png"]), st, "-o", out, *fast], 2,
            "megapixels", [out]),
        Row("style bomb", ["stylize", c, s(f["bomb_20000.png"]), "-o", out, *fast], 2, "megapixels", [out]),
        Row("exemplar bomb", ["texture", "train", s(f["bomb_60000.png"]), "-o", s(pl.scratch / "m.pt")], 2,
            "megapixels", [s(pl.scratch / "m.pt")]),
        Row("--max-megapixels lowered", ["stylize", c, st, "-o", out, "--max-megapixels", "0.0001", *fast], 2,
            "megapixels", [out]),
        Row("content 1x1", ["stylize", s(f["one_pixel.png"]), st, "-o", out, *fast], 2, "small", [out]),
        Row("content all NaN", ["stylize", s(f["all_nan.tif"]), st, "-o", out, *fast], 2, "finite", [out]),
        # bad options
        Row("--size 0", ["stylize", c, st, "-o", out, "--size", "0", *fast], 2, "--size", [out]),
        Row("--size -5", ["stylize", c, st, "-o", out, "--size", "-5", *fast], 2, "--size", [out]),
        Row("--steps -1", ["stylize", c, st, "-o", out, "--backbone", "offline", "--steps", "-1"], 2, "", [out]),
        Row("--style-weight nan", ["stylize", c, st, "-o", out, "--style-weight", "nan", *fast], 2, "", [out]),
        Row("--device quantum", ["stylize", c, st, "-o", out, "--device", "quantum", *fast], 2, "", [out]),
        Row("--bits 12", ["stylize", c, st, "-o", out, "--bits", "12", *fast], 2, "", [out]),
        Row("unknown flag", ["stylize", c, st, "-o", out, "--frobnicate", *fast], 2, "", [out]),
        Row("texture --size 0x5", ["texture", "generate", s(f["model.pt"]), "-o", out, "--size", "0x5"], 2, "", [out]),
        Row("texture --patch 1", ["texture", "train", s(f["exemplar.png"]), "-o", s(pl.scratch / "m.pt"),
                                  "--patch", "1"], 2, "patch", [s(pl.scratch / "m.pt")]),
        Row("exemplar 4x4 advice possible", ["texture", "train", s(f["exemplar4.png"]), "-o", s(pl.scratch / "m.pt"),
                                             "--steps", "1", "--model", "psgan"], 2, "too small", [s(pl.scratch / "m.pt")]),
        # sizes memory cannot hold (NEURAL_ATELIER_MEMORY_GB=4)
        Row("stylize --size 32768", ["stylize", c, st, "-o", out, "--size", "32768", *fast], 2, "memory", [out]),
        Row("generate 16384x16384", ["texture", "generate", s(f["two_maps.pt"]), "-o", out, "--size", "16384x16384"],
            2, "memory", [out]),
        # malicious / foreign weights and checkpoints
        Row("stylize --weights pickle", ["stylize", c, st, "-o", out, "--backbone", "vgg19", "--weights",
                                         s(f["malicious.pth"]), "--steps", "1"], 2, "", [out]),
        Row("stylize --weights random bytes", ["stylize", c, st, "-o", out, "--backbone", "vgg19", "--weights",
                                               s(f["random.pth"]), "--steps", "1"], 2, "", [out]),
        Row("weights --weights pickle", ["weights", "--weights", s(f["malicious.pth"])], 2, ""),
        Row("weights --weights random bytes", ["weights", "--weights", s(f["random.pth"])], 2, ""),
        Row("weights --weights wrong keys", ["weights", "--weights", s(f["wrong_keys.pth"])], 2, ""),
        Row("generate from pickle", ["texture", "generate", s(f["malicious.pt"]), "-o", out, "--size", "32x32"], 2,
            "", [out]),
        Row("generate from random bytes", ["texture", "generate", s(f["random.pt"]), "-o", out, "--size", "32x32"], 2,
            "", [out]),
        Row("train --resume pickle", ["texture", "train", s(f["exemplar.png"]), "-o", s(pl.scratch / "m.pt"),
                                      "--resume", s(f["malicious.pt"])], 2, "", [s(pl.scratch / "m.pt")]),
        # outputs that cannot be written: found before compute
        Row("stylize -o existing folder", ["stylize", c, st, "-o", s(pl.scratch), *fast], 2, "folder"),
        Row("stylize -o missing folder", ["stylize", c, st, "-o", s(pl.scratch / "no" / "o.png"), *fast], 2,
            "does not exist"),
        Row("train -o existing folder", ["texture", "train", s(f["exemplar.png"]), "-o", s(pl.scratch),
                                         "--steps", "1"], 2, "folder"),
        Row("stylize -o read-only", ["stylize", c, st, "-o", f"{ro}/o.png", *fast], 2, "read-only",
            [f"{ro}/o.png"], "read_only"),
        Row("train -o read-only", ["texture", "train", s(f["exemplar.png"]), "-o", f"{ro}/m.pt", "--steps", "1",
                                   "--patch", "16", "--batch", "1"], 2, "read-only", [f"{ro}/m.pt"], "read_only"),
        Row("generate -o read-only", ["texture", "generate", s(f["model.pt"]), "-o", f"{ro}/g.png", "--size",
                                      "32x32"], 2, "read-only", [f"{ro}/g.png"], "read_only"),
        Row("stylize -o full disk", ["stylize", c, st, "-o", f"{full}/o.png", "--size", "256", *fast], 2, "full",
            [f"{full}/o.png"], "full"),
        Row("train -o full disk", ["texture", "train", s(f["exemplar.png"]), "-o", f"{full}/m.pt", "--steps", "1",
                                   "--patch", "16", "--batch", "1"], 2, "full", [f"{full}/m.pt"], "full"),
        Row("generate 2 maps on full disk", ["texture", "generate", s(f["two_maps.pt"]), "-o", f"{full}/g.png",
                                             "--size", "16x16"], 2, "full",
            [f"{full}/g_roughness.png", f"{full}/g_albedo.png"], "full"),
        # odd modes and bit depths that must work: 16-bit, grey, grey+alpha, RGBA, 1-bit, palette
        # styles, a float content with some NaN pixels (replaced, and said so)
        Row("odd modes and some NaN", ["stylize", s(f["some_nan.tif"]), s(f["style16.png"]), s(f["grey.png"]),
                                       s(f["grey_alpha.png"]), s(f["rgba.png"]), s(f["onebit.png"]),
                                       s(f["palette.png"]), "-o", s(pl.scratch / "modes.png"), *fast], 0, "not finite",
            exists=[s(pl.scratch / "modes.png")]),
    ]
    return rows


_BATCH = r"""
import contextlib, hashlib, io, json, os, signal, sys, traceback
sys.path.insert(0, sys.argv[1])
from core.__main__ import main
cases = json.load(open(sys.argv[2]))
class RowTimeout(BaseException):
    pass
def _alarm(signum, frame):
    raise RowTimeout(f"still running after {sys.argv[4]} s")
signal.signal(signal.SIGALRM, _alarm)
def digest(folder):
    return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest() for n in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, n))}
results = []
for case in cases:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        signal.alarm(int(sys.argv[4]))
        try:
            rc = main(case["argv"])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()  # what `python -m core` would print before exiting 1
            rc = 1
        signal.alarm(0)
    left = [p for p in case["absent"] if os.path.lexists(p)]
    made = [p for p in case["exists"] if os.path.isfile(p)]
    for p in left + made:  # this row's outputs must not confuse the next row
        os.unlink(p)
    results.append({"rc": rc, "stderr": err.getvalue(), "stdout": out.getvalue(), "left": left, "made": made,
                    "inputs": digest(case["inputs"])})
    json.dump(results, open(sys.argv[3], "w"))
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def row_env(root: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(root), NEURAL_ATELIER_MEMORY_GB=MEMORY_GB, OMP_NUM_THREADS="1")
    return env


def run_cli_rows(root: Path, rows: list[Row], work: Path) -> list[dict]:
    """All rows in one `core` process (as `python -m core ARGV` would run them, one after another)."""
    cases, results = work / "cases.json", work / "results.json"
    inputs = str(work / "inputs")
    cases.write_text(json.dumps([{"argv": r.argv, "absent": r.absent, "exists": r.exists, "inputs": inputs}
                                 for r in rows]))
    proc = subprocess.run([sys.executable, "-c", _BATCH, str(root), str(cases), str(results), str(ROW_SECONDS)], cwd=str(work),
                          env=row_env(root), capture_output=True, text=True, preexec_fn=_limit_memory, timeout=1800)
    if not results.is_file():
        raise RuntimeError(f"the CLI batch died (rc {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(results.read_text())


def check_cli_row(row: Row, res: dict) -> list[str]:
    """What is wrong with one row's outcome (empty: it passed)."""
    problems = []
    text = res["stderr"]
    if res["rc"] != row.rc:
        problems.append(f"exit {res['rc']}, expected {row.rc}")
    if "Traceback" in text:
        problems.append("printed a traceback")
    if row.rc == 2:
        lines = [ln for ln in text.splitlines() if ln.startswith("error:")]
        if len(lines) != 1:
            problems.append("no one-line 'error:' message")
    if row.says and row.says.lower() not in text.lower():
        problems.append(f"message does not say '{row.says}'")
    problems += [f"left {p}" for p in res["left"]]
    problems += [f"did not write {p}" for p in row.exists if p not in res["made"]]
    return problems


# --------------------------------------------------------------------------- worker rows

@dataclass
class WorkerRow:
    id: str
    request: object  # dict, or a raw line (str / bytes)
    kind: str  # expected final event: 'user' / 'protocol' error, or 'result'
    absent: list[str] = field(default_factory=list)
    needs: str = ""


def worker_rows(f: dict[str, Path], pl: Places) -> list[WorkerRow]:
    s = str
    ok_out = s(pl.scratch / "w_result.npy")
    opts = {"backbone": "offline", "steps": 1, "method": "gatys", "device": "cpu"}

    def stylize(content: str, output: str, **extra) -> dict:
        return {"type": "stylize", "params": {"content": content, "style": s(f["style.npy"]), "output": output,
                                              "options": opts, **extra}}

    full = s(pl.full) if pl.full else "/nonexistent-full"
    ro = s(pl.read_only) if pl.read_only else "/nonexistent-ro"
    return [
        WorkerRow("not JSON", b"this is not json", "protocol"),
        WorkerRow("not an object", b"[1, 2, 3]", "protocol"),
        WorkerRow("id not a string", b'{"id": 5, "type": "ping"}', "protocol"),
        WorkerRow("unknown type", {"type": "format_disk"}, "protocol"),
        WorkerRow("params not an object", {"type": "stylize", "params": [1]}, "protocol"),
        WorkerRow("NaN in JSON", b'{"id": "nan", "type": "texture_generate", "params": {"width": NaN}}', "protocol"),
        WorkerRow("invalid UTF-8", b'{"id": "\xff\xfe"}', "protocol"),
        WorkerRow("line over 1 MiB", b'{"id": "big", "pad": "' + b"x" * (1 << 20) + b'"}', "protocol"),
        WorkerRow("output is the content", stylize(s(f["content.npy"]), s(f["content.npy"]), overwrite=True), "user"),
        WorkerRow("output exists", stylize(s(f["content.npy"]), s(f["existing_result.npy"])), "user"),
        WorkerRow("relative path", stylize("content.npy", ok_out), "user", [ok_out]),
        WorkerRow("content 1x1", stylize(s(f["tiny.npy"]), ok_out), "user", [ok_out]),
        WorkerRow("content all NaN", stylize(s(f["all_nan.npy"]), ok_out), "user", [ok_out]),
        WorkerRow("content pickled object", stylize(s(f["pickled.npy"]), ok_out), "user", [ok_out]),
        WorkerRow("generate from pickle", {"type": "texture_generate", "params": {
            "checkpoint": s(f["malicious.pt"]), "width": 32, "height": 32, "output_dir": s(pl.scratch)}}, "user"),
        WorkerRow("stylize into read-only", stylize(s(f["content.npy"]), f"{ro}/r.npy"), "user", [f"{ro}/r.npy"],
                  "read_only"),
        WorkerRow("train onto full disk", {"type": "texture_train", "params": {
            "exemplars": [s(f["content.npy"])], "checkpoint": f"{full}/m.pt",
            "options": {"steps": 1, "patch": 16, "batch": 1, "device": "cpu"}}}, "user", [f"{full}/m.pt"], "full"),
        WorkerRow("generate 2 maps onto full disk", {"type": "texture_generate", "params": {
            "checkpoint": s(f["two_maps.pt"]), "width": 16, "height": 16, "output_dir": full}}, "user",
            [f"{full}/roughness.npy", f"{full}/albedo.npy"], "full"),
        # last: an old build computes this for a long time
        WorkerRow("generate 16384x16384", {"type": "texture_generate", "params": {
            "checkpoint": s(f["two_maps.pt"]), "width": 16384, "height": 16384, "output_dir": s(pl.scratch)}}, "user",
            [s(pl.scratch / "albedo.npy")]),
    ]


def run_worker_rows(root: Path, rows: list[WorkerRow], work: Path, timeout: float = 600) -> tuple[list[dict], str]:
    """Send every row to one worker; once all are answered, a ping (is it still alive?) and a
    shutdown. Returns each row's final event (then the ping's) and the worker's stderr."""
    import select

    log = work / "worker.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=str(work), env=row_env(root),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, preexec_fn=_limit_memory)
    finals: list[dict] = []
    buf = b""

    def wait_for(done) -> None:
        nonlocal buf
        deadline = time.time() + timeout
        while not done() and time.time() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for ln in complete:
                if ln.strip():
                    ev = json.loads(ln)
                    if ev.get("event") in ("result", "error", "cancelled"):
                        finals.append(ev)

    try:
        for i, row in enumerate(rows):
            line = json.dumps({"id": f"row{i}", **row.request}).encode() if isinstance(row.request, dict) else row.request
            proc.stdin.write(line + b"\n")
            proc.stdin.flush()
        wait_for(lambda: len(finals) >= len(rows))
        proc.stdin.write(b'{"id": "alive", "type": "ping"}\n{"id": "bye", "type": "shutdown"}\n')
        proc.stdin.flush()
        wait_for(lambda: any(e.get("id") == "bye" for e in finals))
        proc.stdin.close()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    by_id = {e["id"]: e for e in finals if e.get("id")}
    # protocol errors on raw lines carry no id (or a salvaged one): they come back in order
    anonymous = iter([e for e in finals if not str(e.get("id") or "").startswith("row")
                      and e.get("id") not in ("alive", "bye")])
    results = [(by_id.get(f"row{i}") if isinstance(r.request, dict) else next(anonymous, None)) or {"event": "none"}
               for i, r in enumerate(rows)]
    results.append(by_id.get("alive") or {"event": "none"})
    return results, log.read_text(errors="replace")


def check_worker_row(row: WorkerRow, ev: dict) -> list[str]:
    problems = []
    got = ev.get("kind") if ev.get("event") == "error" else ev.get("event")
    if got != row.kind:
        problems.append(f"got {got!r} ({str(ev.get('message', ''))[:120]}), expected {row.kind!r}")
    if "\n" in str(ev.get("message", "")):
        problems.append("message is not one line")
    for p in row.absent:
        if os.path.lexists(p):
            problems.append(f"left {p}")
    return problems


# --------------------------------------------------------------------------- script: count a checkout

def count(root: Path) -> dict:
    """Run every CLI and worker row against `root`; cases, passed, failed, files lost."""
    base = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    places = make_places(base)
    try:
        f = make_fixtures(places.inputs)
        before = digests(places.inputs)
        rows = [r for r in cli_rows(f, places) if not r.needs or getattr(places, r.needs)]
        t0 = time.time()
        failures: dict[str, list[str]] = {}
        lost: set[str] = set()
        for row, res in zip(rows, run_cli_rows(root, rows, base)):
            problems = check_cli_row(row, res)
            changed = changed_inputs(before, res["inputs"])
            if changed:
                problems.append(f"changed {changed}")
                lost.update(changed)
            before = res["inputs"]  # attribute later changes to later rows
            if problems:
                failures[f"cli: {row.id}"] = problems
        wrows = [r for r in worker_rows(f, places) if not r.needs or getattr(places, r.needs)]
        results, stderr = run_worker_rows(root, wrows, base)
        for row, ev in zip(wrows, results):
            problems = check_worker_row(row, ev)
            if problems:
                failures[f"worker: {row.id}"] = problems
        changed = [n for n, d in digests(places.inputs).items() if before.get(n) != d]
        lost.update(changed)
        leftovers = temp_leftovers(places.inputs, places.scratch, *(p for p in (places.full, places.read_only) if p))
        n = len(rows) + len(wrows)
        return {"cases": n, "passed": n - len(failures), "failed": len(failures), "files_lost": len(lost),
                "temp_leftovers": leftovers, "worker_traceback": "Traceback" in stderr,
                "code_ran": f["marker"].exists(), "failures": failures, "seconds": round(time.time() - t0, 1)}
    finally:
        places.cleanup()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(ROOT), help="checkout whose `core` runs the rows")
    print(json.dumps(count(Path(args.root) if (args := ap.parse_args()) else ROOT), indent=1))
