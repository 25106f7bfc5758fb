"""Oracle-reachable rates: could the action space answer a question at all, and does
exploration find that answer?

    python -m agents.rl.reach --data-dir runs/default/data [--policy runs/default/multi-task]
        [--n 30 --rollouts 16] [--out reach.md]

Input: a data directory (index, evaluation tasks) and optionally a trained run (default: the
untrained policy). Output, per regime (means over the first n evaluation questions):

* `closure`: read the task's gold documents (privileged), put every extractable unit into
  working memory, then apply every compose operation to every pair (and every whole group of
  one kind) of the most relevant items, three rounds, plus two rounds of the policy's own
  compose generator: the best grade of any item made. An upper bound on what extract and
  compose can express from the right evidence (no per-decision or step caps), not a proof
  that a search finds that evidence; `closure = 1` says how often the exact answer is made.
* `offered`: in `rollouts` sampled episodes of the policy (temperature 1), the best grade of
  any answer candidate offered at any decision (what the policy could have answered);
  `offered+1`: also counting the items the extract and compose candidates of that decision
  would have made (one working-memory action away).
* `best-of-R chosen`: the best grade the policy actually answered in those episodes;
  `greedy`: its greedy episode's grade.

Invariants: measurement only (the grades use the task, which no policy ever sees); episodes
are the policy's own (same candidates, features and sampling as `PolicyAgent`), so the gaps
closure -> offered -> chosen separate expressivity, exploration and choice.
"""
from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..baselines import run_episode
from ..env import SearchEnv
from ..policy import N_FEATURES, PolicyAgent, init_params
from ..policy import candidates as C
from ..policy.candidates import build_candidates, item_feats
from ..policy.features import featurize
from ..policy.items import compose, extractable, render
from ..policy.memory import Memory
from ..policy.model import distribution
from ..tasks import Task, grade
from ..tools import SearchIndex


class Probe(PolicyAgent):
    """`PolicyAgent`'s decisions, plus the grade of everything each decision offered."""

    def begin(self, observation, task=None, rng=None):
        super().begin(observation, task, rng)
        self.best_offer = self.best_next = 0.0

    def act(self, observation: dict) -> dict:
        if observation.get("type") != "question":
            self.mem.observe(observation)
        self.mem.steps = self.mem.budget - int(observation.get("steps_left", self.mem.budget))
        while True:
            cands = build_candidates(self.mem)
            for c in cands:
                if c.tool == "answer" and c.item is not None:
                    self.best_offer = max(self.best_offer, grade(self.task, c.action["answer"]))
                elif c.tool in ("extract", "compose") and c.item is not None:
                    self.best_next = max(self.best_next, grade(self.task, render(c.item)))
            logp = distribution(self.params, featurize(cands, self.mem))
            i = int(np.argmax(logp)) if self.greedy else _sample(logp, self.rng)
            c = cands[i]
            if c.tool in ("extract", "compose"):
                self.mem.add(c.item)
                continue
            self.mem.note_action(c.action, c.sub)
            return c.action


def _sample(logp: np.ndarray, rng: random.Random) -> int:
    u, acc = rng.random(), 0.0
    for i, p in enumerate(np.exp(logp)):
        acc += p
        if u < acc:
            return i
    return len(logp) - 1


def _pairs_closure(task: Task, mem: Memory, rounds: int = 3, top: int = 14) -> float:
    q = mem.question

    def rel(it):
        f = item_feats(mem, it)
        return f["i_q_label"] + f["i_label_q"] + f["i_cov"] + f["i_period"] - f["i_stale"]

    pool = {it.key: it for it in mem.items}
    best = max((grade(task, render(it)) for it in pool.values()), default=0.0)
    for _ in range(rounds):
        items = sorted(pool.values(), key=rel, reverse=True)
        by: dict[str, list] = defaultdict(list)
        for it in items:
            by[it.kind].append(it)
        tries: list[tuple[str, list]] = []
        nums = by["number"][:top]
        tries += [(op, [a, b]) for a in nums for b in nums if a is not b
                  for op in ("difference", "ratio", "growth")]
        cols: dict[str, list] = defaultdict(list)
        for a in by["number"]:
            cols[a.label].append(a)  # one row and column across documents (quarters)
            cols[a.label.split(" | ")[-1]].append(a)
        tries += [("sum", g) for g in cols.values() if len(g) >= 2]
        tries += [("union", by[k]) for k in ("set", "facts", "entity") if len(by[k]) >= 2]
        listy = [i for i in items if i.kind in ("set", "facts", "steps")][:top]
        for a in listy:
            tries += [("filter", [a]), ("count", [a])]
            for b in listy:
                if a is b:
                    continue
                if a.kind == b.kind == "steps":
                    tries += [("order", [a, b]), ("expand", [a, b])]
                elif "steps" not in (a.kind, b.kind):
                    tries += [("intersect", [a, b]), ("difference", [a, b])]
        if by["facts"]:
            tries += [("latest", by["facts"]), ("latest each", by["facts"])]
            tries += [("latest", [x]) for x in by["facts"]]
        if by["span"]:
            tries.append(("join", by["span"][:top]))
        new = 0
        for op, args in tries:
            it = compose(op, args, q)
            if it is None or it.key in pool:
                continue
            pool[it.key] = it
            new += 1
            best = max(best, grade(task, render(it)))
            if best >= 0.999:
                return best
        if not new:
            break
    return best


def gold_closure(env: SearchEnv, task: Task) -> float:
    obs = env.reset(task)
    mem = Memory.start(obs)
    for d in task.gold_docs[:obs["steps_left"] - 1]:
        o, *_ = env.step({"tool": "read", "doc_id": d})
        mem.observe(o)
    for d in mem.read:
        for it in extractable(d, mem.question):
            mem.add(it)
    best = _pairs_closure(task, mem)
    saved = C.MAX_EXTRACTS, C.MAX_COMPOSES
    C.MAX_EXTRACTS = C.MAX_COMPOSES = 10**6
    try:
        for _ in range(2):
            new = C.compose_candidates(mem)
            for c in new:
                best = max(best, grade(task, render(c.item)))
                mem.add(c.item)
    finally:
        C.MAX_EXTRACTS, C.MAX_COMPOSES = saved
    return best


def measure(data_dir: str | Path, params: dict, n: int = 30, rollouts: int = 16,
            step_budget: int = 12) -> dict[str, dict[str, float]]:
    data_dir = Path(data_dir)
    env = SearchEnv(SearchIndex.load(data_dir / "index"), step_budget=step_budget)
    tasks: dict[str, list[Task]] = defaultdict(list)
    with open(data_dir / "eval_tasks.jsonl") as f:
        for line in f:
            t = Task.from_json(json.loads(line))
            tasks[t.regime].append(t)
    out = {}
    for regime, ts in tasks.items():
        rows = []
        for t in ts[:n]:
            offer = nxt = chosen = 0.0
            for s in range(rollouts):
                a = Probe(params, name="probe")
                a.task = t
                rec = run_episode(env, a, t, seed=s)
                offer = max(offer, a.best_offer)
                nxt = max(nxt, a.best_next, a.best_offer)
                chosen = max(chosen, rec["score"])
            g = run_episode(env, PolicyAgent(params, greedy=True), t, seed=0)["score"]
            cl = gold_closure(env, t)
            rows.append((cl, float(cl >= 0.999), offer, nxt, chosen, g))
        m = np.mean(rows, axis=0)
        out[regime] = {"n": len(rows), "closure": m[0], "closure_exact": m[1], "offered": m[2],
                       "offered+1": m[3], "chosen_best_of_R": m[4], "greedy": m[5]}
    return out


def table(res: dict, rollouts: int) -> str:
    cols = ("closure", "closure_exact", "offered", "offered+1", "chosen_best_of_R", "greedy")
    head = ("| regime (n) | closure (gold docs) | closure = 1 | offered | offered + 1 action | "
            f"chosen, best of {rollouts} | greedy |")
    lines = [head, "|" + "---|" * 7]
    for r, v in res.items():
        lines.append(f"| {r} ({v['n']}) | " + " | ".join(f"{v[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m agents.rl.reach", description=__doc__.split(
        "\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", required=True, help="a data directory (index, eval tasks)")
    p.add_argument("--policy", default="", help="a trained run (empty: the untrained policy)")
    p.add_argument("--n", type=int, default=30, help="evaluation questions per regime")
    p.add_argument("--rollouts", type=int, default=16, help="sampled episodes per question")
    p.add_argument("--out", default="", help="also write the table (markdown) here")
    a = p.parse_args(argv)
    if a.policy:
        from .cli import load_policy
        params = load_policy(a.policy)[0]
    else:
        params = init_params(N_FEATURES)
    res = measure(a.data_dir, params, a.n, a.rollouts)
    md = table(res, a.rollouts)
    print(md)
    if a.out:
        Path(a.out).write_text(md + "\n")


if __name__ == "__main__":
    main()
