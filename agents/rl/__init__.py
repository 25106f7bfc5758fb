"""Iterative large-batch off-policy RL (OAPL, GRPO for comparison) for the search policy.

    from agents.rl import TrainConfig, train_run
    result = train_run(TrainConfig(run_dir="runs/multi", iterations=6))

The command line and the end-to-end default live in `agents.rl.cli`.
"""
from .config import TRAIN_REGIMES, TrainConfig
from .data import Data, prepare
from .evaluate import evaluate_agent
from .rollout import Job, Sampler
from .trainer import TrainResult, make_optimizer, train_run

__all__ = ["TrainConfig", "TRAIN_REGIMES", "train_run", "TrainResult", "make_optimizer",
           "prepare", "Data", "Sampler", "Job", "evaluate_agent"]
