"""The six search regimes: question generators with difficulty levels and graders.

Importing this package registers every regime in `REGIMES` (name -> `Regime`). Use
`sample_tasks(world, regime, n, split, seed)` for tasks and `grade(task, answer)` for scores.
"""
from . import aggregate, constraint, exhaustive, numeric, procedure, report  # noqa: F401
from .base import (DIFFICULTIES, EVAL_FRACTION, REGIME_NAMES, REGIMES, Regime, Task, grade,
                   sample_mixed, sample_tasks, split_of)

assert set(REGIME_NAMES) == set(REGIMES), "every regime module must register itself"

__all__ = ["REGIMES", "REGIME_NAMES", "Regime", "Task", "grade", "sample_tasks",
           "sample_mixed", "split_of", "DIFFICULTIES", "EVAL_FRACTION"]
