"""Splitting an animation's frames into overlapping chunks for several workers, and joining them again.

Each chunk is stylized in order on one worker (a frame needs the previous stylized frame). The next
chunk starts `overlap` frames early, with no history; over those shared frames the joined result
cross-fades linearly from the earlier chunk (which has history) to the later one (which has warmed up
by the end of the overlap), so neither chunk's start nor its end shows as a jump."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError


def plan_chunks(frames: int, chunk: int, overlap: int) -> list[range]:
    """Frame index ranges of `chunk` frames (the last may be shorter); each starts `overlap` frames
    before the previous one ends."""
    if frames < 1:
        raise UserError("frames: give at least one frame")
    if chunk < 1:
        raise UserError(f"chunk: {chunk} frames per chunk; use 1 or more")
    if not 0 <= overlap <= chunk // 2:
        raise UserError(f"overlap: {overlap} must be between 0 and half the chunk ({chunk // 2}), so that "
                        "no frame is shared by three chunks")
    ranges: list[range] = []
    start = 0
    while True:
        end = min(start + chunk, frames)
        ranges.append(range(start, end))
        if end == frames:
            return ranges
        start = end - overlap


def blend_weight(position: int, overlap: int) -> float:
    """Weight of the later chunk at the `position`-th shared frame (0-based): rises 1/(o+1) .. o/(o+1)."""
    return (position + 1) / (overlap + 1)


def join_chunks(chunks: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Chunks in frame order, each {frame name: image}; one image per name: from its only chunk, or
    cross-faded where two neighbouring chunks share it."""
    joined: dict[str, np.ndarray] = {}
    for k, chunk in enumerate(chunks):
        names = list(chunk)
        shared = [n for n in names if n in joined]
        for j, name in enumerate(names):
            if name in shared:
                w = blend_weight(j, len(shared))
                joined[name] = ((1.0 - w) * joined[name] + w * chunk[name]).astype(np.float32)
            else:
                joined[name] = chunk[name]
    return dict(sorted(joined.items()))


def frame_changes(frames: list[np.ndarray]) -> np.ndarray:
    """Mean absolute change between consecutive frames (one value per pair), in 0..1 units."""
    return np.array([float(np.mean(np.abs(b - a))) for a, b in zip(frames, frames[1:])])


def boundary_pairs(ranges: list[range]) -> list[int]:
    """Indices i of the frame pairs (i, i+1) that enter, cross or leave a region two chunks share
    (with no overlap: the one pair where one chunk ends and the next begins)."""
    pairs: list[int] = []
    for before, after in zip(ranges, ranges[1:]):
        pairs += range(max(0, after.start - 1), before.stop)
    return sorted(set(pairs))


def join_chunk_folders(folders: list[Path], out: Path) -> dict:
    """Join the frames the chunk jobs left in `folders` (same names where they overlap) into `out`."""
    from ..imageio import read_image, write_image

    chunks = []
    for folder in folders:
        names = sorted(p for p in folder.glob("*.png") if not p.name.startswith(".")) if folder.is_dir() else []
        if not names:
            raise UserError(f"chunk folder '{folder}': no frames; its chunk job did not finish")
        chunks.append({p.name: read_image(p, "chunk frame") for p in names})
    joined = join_chunks(chunks)
    for name, image in joined.items():
        write_image(out / name, image)
    shared = sum(len(a.keys() & b.keys()) for a, b in zip(chunks, chunks[1:]))
    return {"command": "animate (joined chunks)", "frames": len(joined), "chunks": len(chunks), "blended": shared}
