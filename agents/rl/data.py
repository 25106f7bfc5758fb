"""The data a training run needs: world, persisted index, evaluation tasks, synthesized
training tasks.

Input: a data directory and the config's world/synthesis/evaluation sizes. Output: `Data`.
The directory caches everything (index/, eval_tasks.jsonl, train_tasks.jsonl, synth.json) so
several runs (multi-task, single-task, a resumed run) share identical data; the world itself
is rebuilt from its seed (deterministic, seconds) and checked against the saved index.
Invariants: training questions come only from the synthesis pipeline (`agents.synth`), which
de-duplicates them against the evaluation questions by wording and by what they ask, re-checks
every synthesized answer (dropping those that fail) and audits the kept ones against the
ground truth (`synth.json` "audit": the remaining label error rate); `prepare` also checks
that no training question's text equals an evaluation question's or asks the same
(entity, attribute, time) as one (`agents.synth.asks`), and raises if one does. The
directory records the sizes it was made with (`data.json`) and refuses other sizes rather
than silently reuse stale tasks. Synthesis runs on an `agents.executors` executor (`executor`,
`workers`, `ray_address`, as the run's episodes; or a `Sampler` given over this directory's
index); the tasks do not depend on which (see `agents.synth.pipeline`).
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from ..synth import synthesize
from ..synth.asks import asks
from ..tasks import REGIME_NAMES, Task, sample_tasks
from ..tools import SearchIndex
from ..world import World, build_world
from .rollout import Sampler

EVAL_SEED = 0  # evaluation sets are the same for every run of a world
DATA_FORMAT = 3  # 2: graders with precision, re-checked synthesis, de-duplication by asks;
# 3: >= 100 evaluation questions per regime (tasks.base.EVAL_FRACTIONS, exhausted levels)


@dataclass
class Data:
    world: World
    index: SearchIndex
    index_dir: Path
    eval_tasks: dict[str, list[Task]]  # regime -> tasks, all six regimes
    train_pool: list[Task]  # every synthesized task kept by the pipeline, all regimes
    synth_rounds: list[dict]

    def train_tasks(self, regimes: tuple[str, ...]) -> dict[str, list[Task]]:
        return {r: [t for t in self.train_pool if t.regime == r] for r in regimes}


def _write_tasks(path: Path, tasks: list[Task]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for t in tasks:
            f.write(json.dumps(t.to_json(), default=str) + "\n")
    tmp.replace(path)


def _read_tasks(path: Path) -> list[Task]:
    with open(path) as f:
        return [Task.from_json(json.loads(line)) for line in f if line.strip()]


def prepare(data_dir: str | Path, world_seed: int = 0, scale: int = 2000,
            eval_per_regime: int = 30, synth_per_round: int = 240, synth_rounds: int = 2,
            synth_seed: int = 0, progress: bool = False, workers: int = 1,
            executor: str = "local", ray_address: str | None = None, sampler: Sampler | None = None
            ) -> Data:
    """Load the data cached in `data_dir`, making what is missing. Synthesis runs on
    `sampler` (an `agents.rl.rollout.Sampler` over `data_dir`'s index), else on a sampler
    made here for it (`workers` on `executor`, see `agents.executors`) and closed after."""
    root = Path(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    sizes = {"format": DATA_FORMAT, "world_seed": world_seed, "scale": scale,
             "eval_per_regime": eval_per_regime, "synth_per_round": synth_per_round,
             "synth_rounds": synth_rounds, "synth_seed": synth_seed}
    meta_path = root / "data.json"
    if meta_path.exists():
        saved = json.loads(meta_path.read_text())
        if saved != sizes:
            diff = ", ".join(f"{k} {saved.get(k)!r} -> {v!r}" for k, v in sizes.items()
                             if saved.get(k) != v)
            raise ValueError(f"{root} holds data made with other settings ({diff}); use "
                             f"another data directory or delete this one")
    elif any(root.iterdir()):
        raise ValueError(f"{root} holds data of an older format (no data.json); use another "
                         f"data directory or delete this one")
    else:  # first: a killed prepare leaves a directory that the next one recognises
        meta_path.write_text(json.dumps(sizes, indent=2))
    world = build_world(world_seed, scale)
    index_dir = root / "index"
    if (index_dir / "index.json").exists():
        index = SearchIndex.load(index_dir)
        if index.ids != [d.doc_id for d in world.docs]:
            raise ValueError(f"{index_dir}: the saved index does not match world seed "
                             f"{world_seed} scale {scale}; use another data directory")
    else:
        index = SearchIndex.build(world.docs)
        index.save(index_dir)
    eval_path = root / "eval_tasks.jsonl"
    if eval_path.exists():
        flat = _read_tasks(eval_path)
    else:
        flat = [t for r in REGIME_NAMES
                for t in sample_tasks(world, r, eval_per_regime, "eval", EVAL_SEED)]
        _write_tasks(eval_path, flat)
    eval_tasks = {r: [t for t in flat if t.regime == r] for r in REGIME_NAMES}
    train_path, stats_path = root / "train_tasks.jsonl", root / "synth.json"
    if train_path.exists() and stats_path.exists():
        pool, rounds = _read_tasks(train_path), json.loads(stats_path.read_text())["rounds"]
    else:
        with (nullcontext(sampler) if sampler is not None else
              Sampler(str(index_dir), 12, workers, executor, ray_address or None)) as s:
            res = synthesize(index, [t.question for t in flat], per_round=synth_per_round,
                             rounds=synth_rounds, seed=synth_seed, progress=progress,
                             eval_tasks=flat, world=world, sampler=s)
        pool, rounds = res.kept, res.rounds
        _write_tasks(train_path, pool)
        audit = {k: v for k, v in (res.audit or {}).items() if k != "wrong"}
        stats_path.write_text(json.dumps({"rounds": rounds, "kept": len(pool),
                                          "audit": audit,
                                          "label_error_rate": 1 - audit.get("rate", 1.0),
                                          "audit_wrong": (res.audit or {}).get("wrong", [])},
                                         indent=2, default=str))
    check_disjoint(pool, flat)
    return Data(world, index, index_dir, eval_tasks, pool, rounds)


def check_disjoint(train: list[Task], evaluation: list[Task]) -> None:
    """Raise if a training question repeats an evaluation question's text or asks what one
    asks (the same entity, attribute and time). Keys are not compared: synthesized keys
    start with "synth:" and could never equal an evaluation key."""
    texts = {" ".join(t.question.lower().split()) for t in evaluation}
    asked = {a for t in evaluation for a in asks(t)}
    bad = [t.task_id for t in train
           if " ".join(t.question.lower().split()) in texts or asks(t) & asked]
    if bad:
        raise ValueError(f"{len(bad)} training tasks overlap the evaluation set: {bad[:5]}")
