"""Command line: the end-to-end default, build worlds, evaluate agents, synthesize training
data, train the search policy with RL.

    python -m agents.run                      # the embedded default: world, synthesis, RL
                                              # training (multi- and single-task), evaluation,
                                              # plots and summary in runs/default
    python -m agents.run train --run-dir runs/mt [--regimes constraint report] [--resume]
                               [--hold-out numeric]   # train on the other five regimes
    python -m agents.run loro --run-dir runs/loro [--n 100]   # leave-one-regime-out, all six
    python -m agents.run eval  --out runs/ev --policy multi=runs/default/multi-task [--tts multi]
    python -m agents.run world --out runs/world-s0 [--seed 0 --scale 2000]
    python -m agents.run world --out runs/scale --measure 2000 10000 100000
    python -m agents.run eval  --out runs/eval-s0 [--world runs/world-s0] [--agents oracle
                               random heuristic] [--regimes ...] [--n 30] [--split eval]
    python -m agents.run synth --out runs/synth-s0 [--world ...] [--rounds 2 --per-round 60
                               --rollouts 6]

Input: flags. Output: a run directory with config.json (the flags). `world`: world.json
(counts, build times), index/ (bm25s index + docs.jsonl). `eval`: episodes.jsonl (one episode
per line), eval.json (per agent and regime: score with n and its bootstrap 95% interval, the
paired-bootstrap difference from the heuristic, mean tool calls, mean tokens, mean latency;
BM25 recall@10 per regime), eval.csv. `synth`: synth.jsonl (kept questions with provenance and pass
rates), dropped.jsonl, synth.json (per-round counts and the ground-truth audit).
Invariants: every run directory records the config that produced it; a world directory
passed with --world is reused (its index is loaded, its world rebuilt from its seed/scale).
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from .baselines import AGENT_NAMES
from .tasks import REGIME_NAMES, sample_tasks
from .tools import SearchIndex
from .world import DEFAULT_SCALE, World, build_world
from .rl.stats import interval, paired
from .rl.cli import (HelpWithDefaults, add_default_arguments, add_executor_arguments,
                     add_loro_arguments, add_train_arguments, default_from_args, evaluate,
                     loro_from_args, markdown, run_default, train, train_from_args)
from .rl.rollout import Job, Sampler

__all__ = ["main", "train", "evaluate", "run_default"]


def _world(args: argparse.Namespace, out: Path) -> tuple[World, SearchIndex]:
    if getattr(args, "world", None):
        meta = json.loads((Path(args.world) / "world.json").read_text())
        world = build_world(meta["seed"], meta["scale"])
        index = SearchIndex.load(Path(args.world) / "index")
        if index.ids != [d.doc_id for d in world.docs]:
            raise SystemExit(f"{args.world}: index does not match the rebuilt world")
        return world, index
    t0 = time.perf_counter()
    world = build_world(args.seed, args.scale)
    world_seconds = time.perf_counter() - t0
    index = SearchIndex.build(world.docs)
    index.save(out / "index")
    _write_world_json(out, world, world_seconds, index)
    return world, index


def _write_world_json(out: Path, world: World, seconds: float, index: SearchIndex) -> None:
    meta = {"seed": world.seed, "scale": world.scale, "docs": len(world.docs),
            "world_seconds": round(seconds, 3), "index_seconds": round(index.build_seconds, 3),
            "doc_kinds": dict(Counter(d.kind for d in world.docs).most_common()),
            "entities": {"people": len(world.people), "teams": len(world.teams),
                         "customers": len(world.customers), "products": len(world.products),
                         "deals": len(world.deals), "finance_rows": len(world.finance),
                         "runbooks": len(world.runbooks), "projects": len(world.projects),
                         "notes": len(world.notes), "action_items": len(world.actions)}}
    (out / "world.json").write_text(json.dumps(meta, indent=2))


def _sampler(args: argparse.Namespace, out: Path, step_budget: int) -> Sampler:
    """Episode workers over the run's persisted index (`--workers`, `--executor`)."""
    index_dir = Path(args.world) / "index" if getattr(args, "world", None) else out / "index"
    return Sampler(str(index_dir), step_budget, args.workers, args.executor,
                   args.ray_address or None)


def cmd_world(args: argparse.Namespace, out: Path) -> None:
    if args.measure:
        rows = []
        for scale in tqdm(args.measure, desc="scales"):
            proc = subprocess.run([sys.executable, "-m", "agents.bench", "--scale", str(scale),
                                   "--seed", str(args.seed)], capture_output=True, text=True,
                                  check=True)
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        (out / "measure.json").write_text(json.dumps(rows, indent=2))
        _write_csv(out / "measure.csv", rows)
        for r in rows:
            print(f"{r['docs']:>7} docs  world {r['world_seconds']:7.2f}s  index "
                  f"{r['index_seconds']:7.2f}s  peak RSS {r['peak_rss_mb']:7.1f} MB  "
                  f"(+{r['total_rss_delta_mb']:.1f} MB over baseline)")
        return
    world, index = _world(args, out)
    meta = json.loads((out / "world.json").read_text())
    print(f"{meta['docs']} documents in {meta['world_seconds']}s, index in "
          f"{meta['index_seconds']}s -> {out}")


def recall_at_10(index: SearchIndex, tasks: list) -> float:
    """Mean fraction of a task's gold documents among the top 10 hits for its question."""
    vals = []
    for t in tasks:
        hits = {h.doc_id for h in index.search(t.question, 10)}
        vals.append(len(hits & set(t.gold_docs)) / len(t.gold_docs) if t.gold_docs else 0.0)
    return sum(vals) / len(vals) if vals else 0.0


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def summarize(records: list[dict]) -> dict:
    return {"n": len(records), "score": round(_mean([r["score"] for r in records]), 4),
            "tool_calls": round(_mean([r["cost"]["tool_calls"] for r in records]), 2),
            "tokens": round(_mean([r["cost"]["tokens"] for r in records]), 1),
            "latency_s": round(_mean([r["cost"]["wall_seconds"] for r in records]), 5)}


def cmd_eval(args: argparse.Namespace, out: Path) -> None:
    world, index = _world(args, out)
    tasks = {r: sample_tasks(world, r, args.n, args.split, args.seed) for r in args.regimes}
    jobs = [Job(t, args.seed, a) for a in args.agents for r in args.regimes for t in tasks[r]]
    with _sampler(args, out, args.step_budget) as sampler:  # local processes or Ray
        records = [r["record"] for r in sampler.run(jobs, None, "episodes", progress=True)]
    with open(out / "episodes.jsonl", "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
    results: dict = {}
    rows = []
    scores = {name: {r: [x["score"] for x in records if x["agent"] == name and
                         x["regime"] == r] for r in args.regimes} for name in args.agents}
    ref = "heuristic" if "heuristic" in args.agents else None
    for name in args.agents:
        results[name] = {}
        for r in args.regimes:
            s = summarize([x for x in records if x["agent"] == name and x["regime"] == r])
            s["ci95"] = [round(v, 4) for v in interval(scores[name], (r,), args.seed)]
            if ref and name != ref:
                s["vs_heuristic"] = paired(scores[name], scores[ref], (r,), args.seed)
            results[name][r] = s
            rows.append({"agent": name, "regime": r, **{k: v for k, v in s.items()
                                                        if k not in ("vs_heuristic", "ci95")},
                         "ci_lo": s["ci95"][0], "ci_hi": s["ci95"][1]})
        # the mean over regimes, each weighing one (a regime's questions resampled within it)
        s = summarize([x for x in records if x["agent"] == name])
        s["regime_mean"] = round(sum(results[name][r]["score"] for r in args.regimes)
                                 / len(args.regimes), 4)
        s["ci95_regime_mean"] = [round(v, 4) for v in interval(scores[name], args.regimes,
                                                               args.seed)]
        if ref and name != ref:
            s["vs_heuristic"] = paired(scores[name], scores[ref], args.regimes, args.seed)
        results[name]["all"] = s
    recall = {r: round(recall_at_10(index, tasks[r]), 4) for r in args.regimes}
    report = {"config": vars(args), "results": results, "bm25_recall_at_10": recall,
              "index": {"docs": len(index), "build_seconds": round(index.build_seconds, 3)}}
    (out / "eval.json").write_text(json.dumps(report, indent=2, default=str))
    _write_csv(out / "eval.csv", rows)
    print(f"{'agent':<10} {'regime':<11} {'n':>4} {'score':>6} {'95% interval':>14} "
          f"{'calls':>6} {'tokens':>7} {'latency_ms':>10}")
    for row in rows:
        lo, hi = row["ci_lo"], row["ci_hi"]
        print(f"{row['agent']:<10} {row['regime']:<11} {row['n']:>4} {row['score']:>6.3f} "
              f"{f'[{lo:.2f}, {hi:.2f}]':>14} {row['tool_calls']:>6.2f} {row['tokens']:>7.0f} "
              f"{row['latency_s'] * 1e3:>10.2f}")
    print("BM25 recall@10 of gold documents:", recall)


def cmd_synth(args: argparse.Namespace, out: Path) -> None:
    from .synth import audit, synthesize
    world, index = _world(args, out)
    protect_tasks = [t for r in REGIME_NAMES
                     for t in sample_tasks(world, r, args.eval_n, "eval", args.seed)]
    protect = [t.question for t in protect_tasks]
    with _sampler(args, out, 12) as sampler:  # the solver rollouts: local processes or Ray
        res = synthesize(index, protect, per_round=args.per_round, rounds=args.rounds,
                         rollouts=args.rollouts, seed=args.seed, progress=True,
                         dup_threshold=args.dup_threshold, eval_tasks=protect_tasks,
                         sampler=sampler)
    res.write_jsonl(out / "synth.jsonl")
    with open(out / "dropped.jsonl", "w") as f:
        for d in res.dropped:
            f.write(json.dumps(d) + "\n")
    checked = audit(world, res.kept)
    summary = {"config": vars(args), "rounds": res.rounds, "kept": len(res.kept),
               "protected_eval_questions": len(protect),
               "audit": {k: v for k, v in checked.items() if k != "wrong"},
               "audit_wrong": checked["wrong"]}
    (out / "synth.json").write_text(json.dumps(summary, indent=2, default=str))
    for r in res.rounds:
        print(r)
    print(f"kept {len(res.kept)} questions; {checked['correct']}/{checked['n']} answers match "
          f"the ground truth ({checked['rate']:.1%}) -> {out / 'synth.jsonl'}")


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def parser() -> argparse.ArgumentParser:
    fmt = HelpWithDefaults
    p = argparse.ArgumentParser(prog="python -m agents.run", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command")
    add_default_arguments(sub.add_parser("default", help="the end-to-end default run (no "
                                         "arguments): world, synthesis, RL training, "
                                         "evaluation, plots, summary"))
    add_train_arguments(sub.add_parser("train", help="RL-train the search policy"))
    add_loro_arguments(sub.add_parser("loro", help="leave-one-regime-out: for every regime, "
                                      "train on the other five and evaluate on it"))
    helps = {"world": "build a world and its search index",
             "eval": "evaluate baseline agents (or trained policies with --policy)",
             "synth": "synthesize training questions (explore, de-duplicate, re-check, "
                      "filter, audit)"}
    for name in ("world", "eval", "synth"):
        s = sub.add_parser(name, help=helps[name], formatter_class=fmt)
        s.add_argument("--out", required=True, help="run directory (created)")
        s.add_argument("--seed", type=int, default=0, help="world and sampling seed")
        s.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="target documents")
        if name != "world":
            s.add_argument("--world", help="reuse a directory written by `world` (default: "
                           "build a new world into --out)")
    sub.choices["world"].add_argument("--measure", type=int, nargs="*",
                                      help="measure build time and memory at these scales")
    e = sub.choices["eval"]
    e.add_argument("--agents", nargs="+", default=list(AGENT_NAMES), choices=AGENT_NAMES,
                   help="agents to evaluate")
    e.add_argument("--regimes", nargs="+", default=list(REGIME_NAMES), choices=REGIME_NAMES,
                   help="regimes to evaluate")
    e.add_argument("--n", type=int, default=100, help="tasks per regime (the world may "
                   "supply fewer)")
    e.add_argument("--split", default="eval", choices=("train", "eval"), help="task split")
    e.add_argument("--step-budget", type=int, default=12, help="tool calls per episode")
    e.add_argument("--policy", action="append", default=[], metavar="LABEL=RUN_DIR",
                   help="evaluate trained policies (with the baselines) instead")
    e.add_argument("--tts", default=None, help="label of a policy to also run with vote@N")
    for name in ("eval", "synth"):
        sub.choices[name].add_argument("--workers", type=int, default=2,
                                       help="episode workers")
        add_executor_arguments(sub.choices[name])
    s = sub.choices["synth"]
    s.add_argument("--rounds", type=int, default=2, help="synthesis rounds (each with a "
                   "stronger solver)")
    s.add_argument("--per-round", type=int, default=60, help="questions explored per round")
    s.add_argument("--rollouts", type=int, default=6, help="solver rollouts per question "
                   "(pass-rate filter)")
    s.add_argument("--eval-n", type=int, default=100, help="eval questions per regime to "
                   "protect from near-duplicates")
    s.add_argument("--dup-threshold", type=float, default=0.7,
                   help="MinHash 3-gram similarity at which a question is a near-duplicate")
    return p


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv or ["default"])
    if args.command == "default":
        default_from_args(args)
        return
    if args.command == "train":
        train_from_args(args)
        return
    if args.command == "loro":
        loro_from_args(args)
        return
    if args.command == "eval" and args.policy:
        policies = dict(x.split("=", 1) for x in args.policy)
        print(markdown(evaluate(args.out, policies, eval_per_regime=args.n, tts=args.tts,
                                workers=args.workers, executor=args.executor,
                                ray_address=args.ray_address or None)))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(vars(args), indent=2))
    {"world": cmd_world, "eval": cmd_eval, "synth": cmd_synth}[args.command](args, out)


if __name__ == "__main__":
    main()
