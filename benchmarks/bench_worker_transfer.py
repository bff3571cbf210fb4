"""How should images cross the Blender <-> worker process boundary? .npy files vs shared memory.

One round trip = the client hands a 4096² RGBA float32 image (256 MiB) to another process, which
takes its own copy (an engine needs its own tensor anyway), hands an image of the same size back,
and the client takes its own copy. Both methods run side by side between the same two processes;
times are the best of N. The in-process memcpy row is the floor.

    .venv/bin/python benchmarks/bench_worker_transfer.py [--size 4096] [--repeat 3] [--dir DIR]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import tempfile
import time
from multiprocessing import shared_memory

import numpy as np


def _child(conn) -> None:
    """The 'worker': read the input its way, write an output the same way."""
    while True:
        msg = conn.recv()
        if msg is None:
            return
        t0 = time.perf_counter()
        if msg[0] == "npy":
            _, src, dst = msg
            arr = np.load(src, allow_pickle=False)
            out = arr  # a real job would compute here
            tmp = dst + ".tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, out, allow_pickle=False)
            os.replace(tmp, dst)
        else:
            _, src_name, dst_name, shape = msg
            src = shared_memory.SharedMemory(name=src_name)
            arr = np.ndarray(shape, np.float32, buffer=src.buf).copy()
            src.close()
            dst = shared_memory.SharedMemory(name=dst_name, create=True, size=arr.nbytes)
            np.ndarray(shape, np.float32, buffer=dst.buf)[:] = arr
            dst.close()  # the client unlinks it after copying out
            del arr
        conn.send(time.perf_counter() - t0)


def round_trip_npy(conn, img: np.ndarray, folder: str) -> tuple[float, float]:
    src, dst = os.path.join(folder, "in.npy"), os.path.join(folder, "out.npy")
    t0 = time.perf_counter()
    with open(src, "wb") as fh:
        np.save(fh, img, allow_pickle=False)
    conn.send(("npy", src, dst))
    child = conn.recv()
    back = np.load(dst, allow_pickle=False)
    total = time.perf_counter() - t0
    assert back.shape == img.shape
    os.unlink(src)
    os.unlink(dst)
    return total, child


def round_trip_shm(conn, img: np.ndarray, tag: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    src = shared_memory.SharedMemory(create=True, size=img.nbytes)
    np.ndarray(img.shape, np.float32, buffer=src.buf)[:] = img
    dst_name = f"atelier_bench_{os.getpid()}_{tag}"
    conn.send(("shm", src.name, dst_name, img.shape))
    child = conn.recv()
    dst = shared_memory.SharedMemory(name=dst_name)
    back = np.ndarray(img.shape, np.float32, buffer=dst.buf).copy()
    total = time.perf_counter() - t0
    src.close()
    src.unlink()
    dst.close()
    dst.unlink()
    assert back.shape == img.shape
    return total, child


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="folder for the .npy files (default: the system temp folder)")
    args = ap.parse_args()

    img = np.random.default_rng(0).random((args.size, args.size, 4), dtype=np.float32)
    mib = img.nbytes / 2**20
    folder = tempfile.mkdtemp(prefix="atelier-bench-", dir=args.dir)
    ctx = mp.get_context("spawn")
    parent, child_conn = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child_conn,), daemon=True)
    proc.start()
    try:
        copy_times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            a = img.copy()
            b = a.copy()
            copy_times.append(time.perf_counter() - t0)
            del a, b
        npy = [round_trip_npy(parent, img, folder) for _ in range(args.repeat)]
        shm = [round_trip_shm(parent, img, i) for i in range(args.repeat)]
    finally:
        parent.send(None)
        proc.join(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)

    best_npy, best_shm, best_copy = min(t for t, _ in npy), min(t for t, _ in shm), min(copy_times)
    print(f"image {args.size}x{args.size} RGBA float32 = {mib:.0f} MiB each way; best of {args.repeat}; "
          f".npy folder {folder}")
    print(f"{'method':<34}{'round trip':>12}{'worker side':>13}{'vs .npy':>9}")
    print(f"{'.npy files (protocol v1)':<34}{best_npy:>11.3f}s{min(c for _, c in npy):>12.3f}s{1.0:>9.2f}")
    print(f"{'shared memory':<34}{best_shm:>11.3f}s{min(c for _, c in shm):>12.3f}s{best_shm / best_npy:>9.2f}")
    print(f"{'in-process copy x2 (floor)':<34}{best_copy:>11.3f}s{'-':>13}{best_copy / best_npy:>9.2f}")


if __name__ == "__main__":
    main()
