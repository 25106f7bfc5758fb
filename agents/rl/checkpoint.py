"""Checkpoints: everything needed to continue a run as if it had never stopped.

Input: a run directory and a payload (iteration count, parameters, optimizer state, the byte
length of every append-only log). Output: `ckpt/iter-NNNN.pkl`; `load_latest` returns the
newest readable one, and `truncate_logs` cuts the logs back to the lengths it recorded.
Invariants: a checkpoint is written to a temporary file and renamed, so a kill leaves either
the old or the new file, never a torn one; after `truncate_logs` the logs hold exactly the
completed iterations (a killed iteration's partial lines are removed and then rewritten, so
nothing is lost and nothing is duplicated).
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

LOGS = ("rollouts.jsonl", "metrics.csv", "curves.csv")


def log_offsets(run_dir: Path) -> dict[str, int]:
    return {name: (run_dir / name).stat().st_size if (run_dir / name).exists() else 0
            for name in LOGS}


def save_checkpoint(run_dir: Path, iteration: int, payload: dict[str, Any]) -> Path:
    ckpt = run_dir / "ckpt"
    ckpt.mkdir(parents=True, exist_ok=True)
    path = ckpt / f"iter-{iteration:04d}.pkl"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(dict(payload, iteration=iteration, offsets=log_offsets(run_dir)), f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path


def load_latest(run_dir: Path) -> dict[str, Any] | None:
    for path in sorted((run_dir / "ckpt").glob("iter-*.pkl"), reverse=True):
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except (EOFError, pickle.UnpicklingError):
            continue  # cannot happen with rename-on-write, but never trust a file blindly
    return None


def truncate_logs(run_dir: Path, offsets: dict[str, int]) -> None:
    for name in LOGS:
        path = run_dir / name
        if path.exists():
            with open(path, "r+b") as f:
                f.truncate(offsets.get(name, 0))
