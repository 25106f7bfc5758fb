"""Checkpoints: everything needed to continue a run as if it had never stopped.

Input: a run directory and a payload (iteration count, parameters, optimizer state, the byte
length of every append-only log). Output: `ckpt/iter-NNNN.pkl`; `load_latest` returns the
newest usable one, and `truncate_logs` cuts the logs back to the lengths it recorded.
File format: one header line `agents-ckpt/1 sha256=<hex digest> <length>` and then the
pickle of the payload; the digest and length cover the pickle bytes.
Invariants: a checkpoint is written atomically (see `runfiles.atomic_write`), so a kill
leaves either the old or the new file, never a torn one; a checkpoint is used only if its
header, length, digest, payload and file name agree and no log is shorter than it recorded;
otherwise `load_latest` warns and falls back to the one before it (training is
deterministic, so redoing the lost iterations reaches the same state), and when none is
usable it raises `CorruptCheckpoint` rather than silently starting over; after
`truncate_logs` the logs hold exactly the completed iterations (a killed iteration's partial
lines are removed and then rewritten, so nothing is lost and nothing is duplicated).
"""
from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

from .runfiles import RunFileError, atomic_write

LOGS = ("rollouts.jsonl", "metrics.csv", "curves.csv")
MAGIC = b"agents-ckpt/1 sha256="
NAME = re.compile(r"iter-(\d+)\.pkl")


class CorruptCheckpoint(RunFileError):
    """A checkpoint that cannot be used (or, from `load_latest`, no usable one at all)."""


def log_offsets(run_dir: Path) -> dict[str, int]:
    return {name: (run_dir / name).stat().st_size if (run_dir / name).exists() else 0
            for name in LOGS}


def save_checkpoint(run_dir: Path, iteration: int, payload: dict[str, Any]) -> Path:
    ckpt = run_dir / "ckpt"
    ckpt.mkdir(parents=True, exist_ok=True)
    path = ckpt / f"iter-{iteration:04d}.pkl"
    data = pickle.dumps(dict(payload, iteration=iteration, offsets=log_offsets(run_dir)),
                        protocol=pickle.HIGHEST_PROTOCOL)
    header = MAGIC + hashlib.sha256(data).hexdigest().encode() + b" %d\n" % len(data)
    atomic_write(path, header + data)
    return path


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The verified payload of one checkpoint file, or `CorruptCheckpoint` saying why not."""
    raw = path.read_bytes()
    head, newline, data = raw.partition(b"\n")
    if not newline or not head.startswith(MAGIC):
        raise CorruptCheckpoint(f"{path}: no checkpoint header (truncated, damaged, or not "
                                f"written by this version)")
    fields = head[len(MAGIC):].split(b" ")
    if len(fields) != 2 or not re.fullmatch(rb"[0-9a-f]{64}", fields[0]) or \
            not fields[1].isdigit():
        raise CorruptCheckpoint(f"{path}: damaged header")
    if len(data) != int(fields[1]):
        raise CorruptCheckpoint(f"{path}: {len(data)} bytes of payload where the header says "
                                f"{int(fields[1])} (truncated?)")
    if hashlib.sha256(data).hexdigest().encode() != fields[0]:
        raise CorruptCheckpoint(f"{path}: the payload does not match its sha256 checksum")
    try:
        payload = pickle.loads(data)
    except Exception as e:  # the digest matched, so this is a writer bug: still refuse
        raise CorruptCheckpoint(f"{path}: unreadable payload ({type(e).__name__})") from None
    m = NAME.fullmatch(path.name)
    if not isinstance(payload, dict) or not m or payload.get("iteration") != int(m.group(1)):
        raise CorruptCheckpoint(f"{path}: the payload is not this file's iteration")
    return payload


def _check_logs(run_dir: Path, payload: dict[str, Any], path: Path) -> None:
    """Truncating a log to an offset beyond its end would pad it with zero bytes."""
    sizes = log_offsets(run_dir)
    for name, offset in payload.get("offsets", {}).items():
        if sizes.get(name, 0) < offset:
            raise CorruptCheckpoint(f"{path}: {name} holds {sizes.get(name, 0)} bytes, fewer "
                                    f"than the {offset} this checkpoint recorded")


def load_latest(run_dir: Path) -> dict[str, Any] | None:
    """The newest usable checkpoint (None if the run has none); see the module docstring."""
    for tmp in (run_dir / "ckpt").glob(".iter-*.tmp"):  # a kill during a write left it
        tmp.unlink(missing_ok=True)
    found = sorted((int(m.group(1)), p) for p in (run_dir / "ckpt").glob("iter-*.pkl")
                   if (m := NAME.fullmatch(p.name)))
    problems = []
    for _, path in reversed(found):
        try:
            payload = read_checkpoint(path)
            _check_logs(run_dir, payload, path)
            return payload
        except (CorruptCheckpoint, OSError) as e:
            problems.append(str(e))
            warnings.warn(f"checkpoint unusable, falling back to the one before it: {e}",
                          RuntimeWarning, stacklevel=2)
    if problems:
        raise CorruptCheckpoint(f"{run_dir / 'ckpt'}: no usable checkpoint ("
                                + "; ".join(problems) + "); move ckpt/ away to start the run "
                                "over")
    return None


def truncate_logs(run_dir: Path, offsets: dict[str, int]) -> None:
    for name in LOGS:
        path = run_dir / name
        if path.exists():
            with open(path, "r+b") as f:
                f.truncate(offsets.get(name, 0))
