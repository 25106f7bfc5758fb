"""Bootstrap intervals (agents/rl/stats.py) and the plots' legends and labels."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.rl.plots import learning_curves, pareto
from agents.rl.stats import interval, paired

scores01 = st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=2, max_size=40)


@settings(max_examples=30, deadline=None)
@given(a=scores01, b=scores01)
def test_interval_brackets_the_mean_of_regime_means(a, b):
    s = {"x": a, "y": b}
    lo, hi = interval(s, ("x", "y"), n_boot=300)
    mean = (np.mean(a) + np.mean(b)) / 2
    assert lo - 1e-12 <= mean <= hi + 1e-12
    assert 0.0 <= lo <= hi <= 1.0


def test_paired_difference_of_identical_agents_is_exactly_zero():
    s = {"x": [0.0, 1.0, 1.0, 0.0, 0.5] * 10}
    d = paired(s, s, ("x",))
    assert d["diff"] == d["lo"] == d["hi"] == 0.0 and d["n"] == 50


def test_paired_interval_is_narrower_than_unpaired_for_correlated_agents():
    rng = np.random.default_rng(0)
    base = rng.random(100)
    a = {"x": list((base > 0.5).astype(float))}
    b = {"x": list(((base > 0.5) | (rng.random(100) < 0.1)).astype(float))}
    d = paired(b, a, ("x",))
    lo_a, hi_a = interval(a, ("x",))
    assert d["lo"] >= 0.0 and (d["hi"] - d["lo"]) < (hi_a - lo_a)


def test_paired_refuses_different_questions():
    with pytest.raises(ValueError, match="same questions"):
        paired({"x": [1.0, 0.0]}, {"x": [1.0]}, ("x",))
    assert math.isnan(interval({}, ("x",))[0])


def test_learning_curve_legend_lists_every_run(tmp_path):
    runs = {}
    for k, regime in enumerate(("constraint", "report", "numeric")):
        path = tmp_path / f"run{k}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "regime", "split", "score"])
            for it in range(3):  # each run has points in one panel only
                w.writerow([it, regime, "eval", 0.1 * it])
        runs[f"run{k}"] = path
    import matplotlib.pyplot as plt
    captured = {}
    orig = plt.Figure.legend

    def spy(self, *args, **kwargs):
        captured["labels"] = list(args[1]) if len(args) > 1 else []
        return orig(self, *args, **kwargs)
    plt.Figure.legend = spy
    try:
        learning_curves(runs, {r: ("constraint",) for r in runs}, tmp_path / "lc.png")
    finally:
        plt.Figure.legend = orig
    assert captured["labels"] == ["run0 (eval)", "run1 (eval)", "run2 (eval)"]
    assert (tmp_path / "lc.png").stat().st_size > 0


def test_pareto_labels_do_not_overlap_and_the_legend_is_above_the_points(tmp_path):
    import matplotlib.pyplot as plt
    summary = {name: {g: {"tokens": 800.0 + i, "latency": 0.01, "score": 0.3 + 0.001 * i,
                          "ci": [0.25, 0.35]} for g in ("train", "held_out", "all")}
               for i, name in enumerate(["a-long-name", "b-long-name", "c-long-name"])}
    figs = []
    orig = plt.close
    plt.close = lambda fig=None: figs.append(fig)  # keep the figure to inspect it
    try:
        pareto(summary, "tokens", tmp_path / "p.png")
    finally:
        plt.close = orig
    fig = figs[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == 3
        for i in range(3):
            for j in range(i + 1, 3):
                assert not boxes[i].overlaps(boxes[j])
        legend = ax.get_legend().get_window_extent(renderer)
        pts = ax.transData.transform([(800.0 + i, 0.3 + 0.001 * i) for i in range(3)])
        assert all(not legend.contains(x, y) for x, y in pts)
    plt.close(fig)


class FakeSampler:
    """Stands in for the worker pool: the score of a task is fixed by (agent, task index)."""

    def run(self, jobs, params, desc=None, progress=False):
        out = []
        for j in jobs:
            i = j.tag["task"]
            score = float((i + (0 if j.agent == "heuristic" else 1)) % 3 == 0)
            out.append({"tag": j.tag, "record": {
                "score": score, "answer": str(i),
                "cost": {"tool_calls": 2, "tokens": 100, "wall_seconds": 0.01}}})
        return out


def test_run_evaluation_reports_intervals_and_paired_differences(tmp_path):
    import json
    from types import SimpleNamespace

    from agents.rl.report import run_evaluation
    from agents.tasks import REGIME_NAMES, Task
    tasks = {r: [Task(f"{r}-{i}", r, 1, "q", "a", "value", [], f"{r}:{i}") for i in range(12)]
             for r in REGIME_NAMES}
    data = SimpleNamespace(eval_tasks=tasks)
    rep = run_evaluation(tmp_path, data, FakeSampler(), {"pol": {}}, {"pol": ("constraint",)},
                         baselines=("random", "heuristic"), progress=False)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["n_per_regime"] == {r: 12 for r in REGIME_NAMES}
    pol = saved["agents"]["pol"]
    for r in REGIME_NAMES:
        lo, hi = pol["per_regime"][r]["ci"]
        assert lo <= pol["per_regime"][r]["score"] <= hi
    assert pol["all"]["n"] == 72 and pol["held_out"]["n"] == 60 and pol["train"]["n"] == 12
    d = pol["vs_reference"]["all"]
    assert pol["vs_reference"]["reference"] == "heuristic" and d["lo"] <= d["diff"] <= d["hi"]
    text = (tmp_path / "summary.md").read_text()
    assert "(n=12)" in text and "[pareto_cost.png]" not in text
    assert "(pareto_cost.png)" in text and "Difference from heuristic" in text
    assert rep["agents"]["heuristic"]["vs_reference"]["all"]["diff"] == 0.0
    # every table of summary.md: n in its header, an interval in every score cell (#15)
    tables, cur = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cur.append(line)
        elif cur:
            tables.append(cur)
            cur = []
    assert len(tables) == 3  # scores, difference from the heuristic, per regime (no base)
    for k, t in enumerate(tables):
        assert "(n=12)" in t[0]
        for row in t[2:]:
            cells = row.strip("|").split("|")[1:]  # after the agent's name
            assert len(cells) == len(t[0].strip("|").split("|")) - 1, row
            # every cell, scores, differences and costs alike, carries its interval; the
            # per-regime table's cells carry four (score / tool calls / tokens / latency)
            assert all(c.count("[") == c.count("]") == (4 if k == 2 else 1)
                       for c in cells), row
    for g in ("all", "held_out", "train"):
        assert set(pol[g]["cost_ci"]) == {"tool_calls", "tokens", "latency"}
        assert pol[g]["cost_ci"]["tool_calls"] == [2.0, 2.0]
    assert saved["agents"]["pol"]["per_regime"]["numeric"]["cost_ci"]["tokens"] == [100.0, 100.0]


def test_train_hold_out_trains_on_every_other_regime(monkeypatch):
    import argparse

    import agents.rl.cli as cli
    from agents.tasks import REGIME_NAMES
    seen = {}
    monkeypatch.setattr(cli, "train", lambda run_dir, resume, **kw: seen.update(kw))
    p = cli.add_train_arguments(argparse.ArgumentParser())
    cli.train_from_args(p.parse_args(["--hold-out", "numeric"]))
    assert tuple(seen["regimes"]) == tuple(r for r in REGIME_NAMES if r != "numeric")
    from agents.rl.config import TrainConfig
    assert f"(default: {TrainConfig().iterations})" in " ".join(p.format_help().split())


def _rows(md: str) -> list[list[str]]:
    return [line.strip("|").split("|") for line in md.splitlines()
            if line.startswith("|") and not line.startswith("|---")][1:]


def test_loro_table_has_an_interval_and_n_in_every_row_and_a_mean_row():
    """#15 item 4: every LORO row (each held-out regime and their mean) carries its n, a
    bootstrap interval per score and a paired interval per difference."""
    from agents.rl.loro import loro_mean, loro_markdown
    rng = np.random.default_rng(1)
    held = {}
    for r, n in (("numeric", 30), ("aggregate", 20)):
        sc = {lab: {r: list((rng.random(n) < p).astype(float))}
              for lab, p in (("heuristic", 0.6), ("base", 0.1), ("trained", 0.3))}
        tc = {lab: {r: [5.0] * n} for lab in sc}
        agents = {lab: {"score": float(np.mean(s[r])), "tool_calls": 5.0,
                        "ci": interval(s, (r,)), "cost_ci": {"tool_calls": [5.0, 5.0]}}
                  for lab, s in sc.items()}
        held[r] = {"n": n, "agents": agents, "scores": sc, "tool_calls": tc,
                   "trained_vs_base": paired(sc["trained"], sc["base"], (r,)),
                   "trained_vs_heuristic": paired(sc["trained"], sc["heuristic"], (r,))}
    out = {"held_out": held, "mean": loro_mean(held)}
    m = out["mean"]
    assert m["n"] == 50 and m["trained_vs_base"]["n"] == 50
    for lab, st in m["agents"].items():
        assert st["ci"][0] <= st["score"] <= st["ci"][1]
    rows = _rows(loro_markdown(out))
    assert [c.strip() for c in (r[0] for r in rows)] == [
        "numeric (30)", "aggregate (20)", "mean of 2 (50)"]
    for row in rows:
        assert all("[" in c and "]" in c for c in row[1:6]), row
        assert row[6].strip() == "5.0 [5.0, 5.0] / 5.0 [5.0, 5.0]", row


def test_run_loro_writes_the_mean_row_from_the_kept_scores(tmp_path, monkeypatch):
    """run_loro end to end with the training and the worker pool stubbed out: loro.json keeps
    per-question scores and tool calls, and loro.md's every row carries n and intervals."""
    import json
    from types import SimpleNamespace

    import agents.rl.loro as loro
    from agents.rl.config import TrainConfig
    from agents.tasks import REGIME_NAMES, Task
    tasks = {r: [Task(f"{r}-{i}", r, 1, "q", "a", "value", [], f"{r}:{i}") for i in range(9)]
             for r in REGIME_NAMES}

    class Pool(FakeSampler):
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False
    monkeypatch.setattr(loro, "prepare", lambda *a, **k: SimpleNamespace(
        eval_tasks=tasks, index_dir=tmp_path))
    monkeypatch.setattr(loro, "Sampler", Pool)
    monkeypatch.setattr(loro, "train_run", lambda cfg, **k: SimpleNamespace(params={},
                                                                             metrics=[]))
    out = loro.run_loro(TrainConfig(run_dir=str(tmp_path / "loro"), progress=False),
                        n_per_regime=6, regimes=("numeric", "aggregate"))
    saved = json.loads((tmp_path / "loro" / "loro.json").read_text())
    assert saved["mean"]["n"] == 12 and saved["mean"]["regimes"] == ["numeric", "aggregate"]
    assert len(saved["held_out"]["numeric"]["scores"]["trained"]["numeric"]) == 6
    assert out["mean"]["agents"]["heuristic"]["cost_ci"]["tool_calls"] == [2.0, 2.0]
    rows = _rows((tmp_path / "loro" / "loro.md").read_text())
    assert [r[0].strip() for r in rows] == ["numeric (6)", "aggregate (6)", "mean of 2 (12)"]
    for row in rows:
        assert all("[" in c and "]" in c for c in row[1:]), row


def test_vote_at_n_on_the_first_questions_is_paired_with_the_same_questions(tmp_path):
    """vote@N on the first K questions of each regime: its rows hold K scores per regime,
    the greedy policy's scores on those K questions are a row of their own (sliced from the
    greedy run, not re-run), and its paired differences use the reference's first K."""
    import json
    from types import SimpleNamespace

    from agents.rl.report import run_evaluation
    from agents.rl.stats import paired
    from agents.tasks import REGIME_NAMES, Task
    tasks = {r: [Task(f"{r}-{i}", r, 1, "q", "a", "value", [], f"{r}:{i}") for i in range(12)]
             for r in REGIME_NAMES}

    class Counting(FakeSampler):
        jobs = 0

        def run(self, jobs, params, desc=None, progress=False):
            Counting.jobs += len(jobs)
            return super().run(jobs, params, desc, progress)

    rep = run_evaluation(tmp_path, SimpleNamespace(eval_tasks=tasks), Counting(),
                         {"pol": {}}, {"pol": ("constraint",)}, baselines=("heuristic",),
                         tts_policy="pol", tts_samples=(2, 4), progress=False,
                         tts_per_regime=5)
    assert Counting.jobs == 6 * 12 * 2 + 6 * 5 * 4  # heuristic and pol greedy; vote@4 once
    agents = rep["agents"]
    assert list(agents) == ["heuristic", "pol", "pol (first 5)", "pol vote@2", "pol vote@4"]
    sub = agents["pol (first 5)"]
    assert sub["questions"] == "first 5 per regime" and agents["pol"]["questions"] == "all"
    for r in REGIME_NAMES:
        assert sub["scores"][r] == agents["pol"]["scores"][r][:5]
        assert len(agents["pol vote@4"]["scores"][r]) == 5
    ref5 = {r: v[:5] for r, v in agents["heuristic"]["scores"].items()}
    want = paired(agents["pol vote@2"]["scores"], ref5, tuple(REGIME_NAMES), 0)
    assert agents["pol vote@2"]["vs_reference"]["all"] == want
    assert rep["tts"]["per_regime"] == 5
    assert "on the first 5 questions of each regime" in (tmp_path / "summary.md").read_text()
    assert json.loads((tmp_path / "eval.json").read_text())["agents"]["pol vote@4"]["all"]["n"] \
        == 30
