"""Training configuration: one frozen record, saved as config.json in every run directory.

Input: keyword overrides (from Python or argparse). Output: `TrainConfig`.
Invariants: everything that changes a run's result is in here (seeds included), so a run is
reproducible from its config.json; `--resume` refuses a config that differs from the saved
one in any result-changing field (`workers`, `progress`, the executor and the directories may
differ: they change speed, not results, because every episode's seed is fixed by (seed,
iteration, question, g) and the policy version that samples it by `max_lag` and `lag_mode`).
Defaults that changed keep old runs resumable: `oapl_anchor` "auto" (the default) is made
concrete when a run starts (`resolved`): on `--resume` it is the saved run's anchor, so a run
keeps the objective it was started with; a config.json written before a field existed reads
as the value those runs used (`LEGACY`: no `oapl_anchor` key means "behaviour").
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .runfiles import read_json, write_json

TRAIN_REGIMES = ("constraint", "report")  # as in the paper: entity search + report synthesis
NON_RESULT_FIELDS = ("workers", "progress", "run_dir", "data_dir", "executor", "ray_address")
# a field added after runs existed whose default is not what those runs did: the value a
# config.json (or checkpoint) without the key was trained with
LEGACY = {"oapl_anchor": "behaviour", "members": 1}


@dataclass(frozen=True)
class TrainConfig:
    run_dir: str = "runs/train"
    data_dir: str = ""  # shared world/index/tasks cache; "" -> <run_dir>/data
    seed: int = 0
    world_seed: int = 0
    scale: int = 2000
    regimes: tuple[str, ...] = TRAIN_REGIMES
    iterations: int = 16
    questions_per_iter: int = 32
    group_size: int = 8  # G rollouts per question; episodes/iteration = questions * G
    grad_steps: int = 4  # gradient steps per iteration on the same batch (off-policy)
    algo: str = "oapl"  # oapl | grpo
    beta: float = 0.1  # OAPL: weight of log(pi / pi_lag) (smaller: larger policy steps)
    beta1: float = 0.5  # OAPL: temperature of V(x) = beta1 log mean exp(r / beta1)
    clip_eps: float = 0.2  # GRPO only
    lr: float = 0.05  # bottom of the tower: Adam(lr, optimizer=SGD(hyper_lr))
    hyper_lr: float = 1e-3  # large enough that the tower does move the step size
    hidden: int = 16
    tool_cost: float = 0.01  # reward = grade - tool_cost * tool calls: stopping matters
    step_budget: int = 12
    synth_per_round: int = 240
    synth_rounds: int = 2
    eval_per_regime: int = 100  # the default world supplies 100 for every regime
    curve_per_regime: int = 8  # greedy learning-curve evaluation after every iteration
    workers: int = 2
    progress: bool = True
    executor: str = "local"  # local (embedded processes) | ray (see agents.executors)
    ray_address: str = ""  # a Ray cluster's address; "" starts a local Ray (executor=ray)
    # asynchronous OAPL (agents.rl.async_oapl): batch b is sampled by policy version >= b -
    # max_lag (0: today's synchronous loop); "enforce" uses exactly version b - max_lag
    # (deterministic, for experiments), "bound" the newest version a worker has been sent
    max_lag: int = 0
    lag_mode: str = "enforce"  # enforce | bound
    replay: int = 1  # an update trains on the last `replay` batches
    # OAPL's reference policy in log(pi / pi_ref): "behaviour" (the policy that sampled the
    # episode, as the synchronous loop) or "learner" (the learner's policy at the start of
    # the update: stale batches no longer pull it back towards an old version)
    # "learner-is": the learner's policy as reference, with V(x) and each episode's weight
    # corrected by the importance ratio pi_learner / pi_behaviour truncated at `is_clip`
    # "auto" (the default, made concrete by `resolved` when a run starts): learner-is where an
    # update can see stale data (OAPL with max_lag > 0 or replay > 1), behaviour otherwise
    # (at lag 0 and replay 1 the three anchors are one objective: the synchronous loop)
    oapl_anchor: str = "auto"
    is_clip: float = 1.0
    is_normalize: bool = False  # learner-is: episode weights rescaled to mean 1 per update
    # the seed of the initial weights (-1: `seed`, as before); for measuring how much of the
    # spread between runs comes from the initialisation and how much from the episodes
    init_seed: int = -1
    # the policy is the mean scorer of this many runs (`member`), each of iterations / members
    # iterations, one after another; 1: one run (the default run uses 2, see cli.run_default)
    members: int = 1

    @property
    def policy_init_seed(self) -> int:
        """The seed `init_params` draws the initial weights with."""
        return self.seed if self.init_seed < 0 else self.init_seed

    @property
    def policy_hidden(self) -> int:
        """Hidden units of the saved policy: the members' hidden layers side by side."""
        return self.hidden * self.members

    def member(self, k: int) -> "TrainConfig":
        """Member k's own run (`members` > 1): seed `seed * members + k` (so the members of
        different seeds never share one), `iterations / members` iterations, in
        `<run_dir>/member-k`; the initial weights' seed likewise from `init_seed` if set."""
        m = self.members
        return self.replace(run_dir=str(Path(self.run_dir) / f"member-{k}"), members=1,
                            iterations=self.iterations // m, seed=self.seed * m + k,
                            init_seed=-1 if self.init_seed < 0 else self.init_seed * m + k)

    @property
    def episodes_per_iter(self) -> int:
        return self.questions_per_iter * self.group_size

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["regimes"] = list(self.regimes)
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        d = {**LEGACY, **{k: v for k, v in d.items() if k in known}}
        if "regimes" in d:
            d["regimes"] = tuple(d["regimes"])
        return TrainConfig(**d)

    def resolved(self, saved: "TrainConfig | None" = None) -> "TrainConfig":
        """This config with `oapl_anchor` "auto" made concrete: the `saved` run's anchor when
        resuming one (a run keeps its objective, whatever today's default), else learner-is
        for OAPL that can use stale data (max_lag > 0 or replay > 1), else behaviour."""
        if self.oapl_anchor != "auto":
            return self
        if saved is not None:
            return self.replace(oapl_anchor=saved.resolved().oapl_anchor)
        stale = self.algo == "oapl" and (self.max_lag > 0 or self.replay > 1)
        return self.replace(oapl_anchor="learner-is" if stale else "behaviour")

    def replace(self, **kw: Any) -> "TrainConfig":
        return dataclasses.replace(self, **kw)

    def result_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.to_json().items() if k not in NON_RESULT_FIELDS}

    def save(self, path: Path) -> None:
        """Atomically, with a checksum (see agents.rl.runfiles); read back with `load`."""
        write_json(path, self.to_json())

    @staticmethod
    def load(path: Path) -> "TrainConfig":
        """A saved config, verified; `RunFileError` naming the file if it is damaged."""
        return TrainConfig.from_json(read_json(path))

    def check_compatible(self, saved: "TrainConfig") -> None:
        a, b = self.result_fields(), saved.result_fields()
        diff = sorted(k for k in a if a[k] != b.get(k))
        if diff:
            raise ValueError("cannot resume: the config differs from the saved run in "
                             + ", ".join(f"{k} ({b.get(k)!r} -> {a[k]!r})" for k in diff))


def config_fields() -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if f.name != "run_dir"]

