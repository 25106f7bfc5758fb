"""RL: batches, data hygiene, a tiny training run that must improve, and kill-and-resume.

One small data directory (world, index, evaluation tasks, synthesized training tasks) is
prepared per module and shared. The kill-and-resume test has a real training process SIGKILL
itself at a fixed point of its second iteration, resumes it, and requires the final parameters,
optimizer state and logged rollouts to equal those of an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agents.policy import N_FEATURES, episode_logp, init_params
from agents.rl import Job, Sampler, TrainConfig, prepare, train_run
from agents.rl.batch import pack
from agents.rl.cli import add_train_arguments, evaluate, train
from agents.rl.data import check_disjoint
from agents.rl.rollout import episode_seed
from agents.tasks import REGIME_NAMES

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(iterations=3, questions_per_iter=16, group_size=8, grad_steps=8,
            eval_per_regime=6, curve_per_regime=2, synth_per_round=180, synth_rounds=1,
            progress=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("rl-data")
    prepare(d, eval_per_regime=TINY["eval_per_regime"], synth_per_round=TINY["synth_per_round"],
            synth_rounds=TINY["synth_rounds"])
    return d


@pytest.fixture(scope="module")
def data(data_dir):
    return prepare(data_dir, eval_per_regime=TINY["eval_per_regime"],
                   synth_per_round=TINY["synth_per_round"], synth_rounds=TINY["synth_rounds"])


def test_training_data_is_synthesized_and_disjoint_from_eval(data):
    pool = data.train_tasks(("constraint", "report"))
    assert pool["constraint"] and pool["report"]
    assert all("synth" in t.meta for ts in pool.values() for t in ts)
    flat = [t for ts in data.eval_tasks.values() for t in ts]
    check_disjoint(data.train_pool, flat)  # raises on overlap
    with pytest.raises(ValueError):
        check_disjoint(data.train_pool[:1] + [flat[0]], flat)


def test_batch_recomputes_the_sampled_log_probabilities(data):
    params = init_params(N_FEATURES, seed=5)
    params["w0"] = np.random.default_rng(0).normal(0, 0.3, (N_FEATURES, 1))
    tasks = data.train_tasks(("constraint", "report"))
    jobs = [Job(t, episode_seed("t", i, g), tag={"q": i})
            for i, t in enumerate(tasks["constraint"][:2] + tasks["report"][:2])
            for g in range(3)]
    with Sampler(str(data.index_dir), workers=1) as s:
        res = s.run(jobs, params)
    b = pack(res, np.zeros(len(res)), [j.tag["q"] for j in jobs])
    assert np.allclose(b.seg @ b.lag_dec, b.logp_lag)
    lp = episode_logp(params, b.X, b.neg, b.onehot, b.seg, b.n_dec, b.n_cand)
    np.testing.assert_allclose(lp, b.logp_lag, atol=1e-9)
    assert [len(g) for g in b.groups] == [3, 3, 3, 3]


def _mean_reward(sampler: Sampler, params: dict, tasks: list, cfg: TrainConfig) -> float:
    jobs = [Job(t, episode_seed("probe", i, g)) for i, t in enumerate(tasks) for g in range(4)]
    res = sampler.run(jobs, params)
    return float(np.mean([r["record"]["score"] - cfg.tool_cost * r["record"]["cost"]
                          ["tool_calls"] for r in res]))


@pytest.mark.slow
def test_tiny_training_run_raises_mean_reward(data, tmp_path):
    # the policy starts near-uniform over ~20 candidates per decision (search, read,
    # extract, compose, answer), so it needs a few more updates than TINY gives to move
    # on one regime whose answers it can reach early (step lists)
    cfg = TrainConfig(run_dir=str(tmp_path / "run"), workers=2, regimes=("procedure",),
                      **dict(TINY, iterations=4, grad_steps=4))
    with Sampler(str(data.index_dir), workers=2) as s:
        result = train_run(cfg, data=data, sampler=s)
        tasks = [t for ts in data.train_tasks(cfg.regimes).values() for t in ts[:24]]
        before = _mean_reward(s, init_params(N_FEATURES, cfg.hidden, cfg.seed), tasks, cfg)
        after = _mean_reward(s, result.params, tasks, cfg)
    assert after > before + 0.05, (before, after)
    rows = (tmp_path / "run" / "rollouts.jsonl").read_text().splitlines()
    assert len(rows) == cfg.iterations * cfg.episodes_per_iter
    assert {"iteration", "reward", "logp", "trajectory"} <= set(json.loads(rows[0]))
    assert (tmp_path / "run" / "policy.npz").exists()


@pytest.mark.slow
def test_grpo_runs_and_moves_parameters(data, tmp_path):
    cfg = TrainConfig(run_dir=str(tmp_path / "grpo"), algo="grpo", workers=1,
                      **dict(TINY, iterations=1, curve_per_regime=0))
    result = train_run(cfg, data=data)
    p0 = init_params(N_FEATURES, cfg.hidden, cfg.seed)
    assert np.isfinite(result.metrics[0]["loss_last"])
    assert any(not np.allclose(p0[k], result.params[k]) for k in p0)


def _strip_times(line: str) -> dict:
    d = json.loads(line)
    d["cost"].pop("wall_seconds")
    d["cost"].pop("tool_seconds")
    return d


KILL_IN_ITERATION_2 = """
import os, signal, sys
import agents.rl.trainer as trainer
from agents.rl.cli import main
real_pack, calls = trainer.pack, []
def pack(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:   # iteration 2 sampled: die before anything of it is written
        os.kill(os.getpid(), signal.SIGKILL)
    return real_pack(*args, **kwargs)
trainer.pack = pack
main(sys.argv[1:])
"""


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_state(data_dir, tmp_path):
    common = dict(TINY, data_dir=str(data_dir), workers=1)
    ref = train(tmp_path / "ref", **common)
    # The child kills itself at a fixed event of its second iteration (its rollouts sampled
    # and packed, not yet logged or checkpointed): no sleep, no race with a busy machine.
    argv = [sys.executable, "-c", KILL_IN_ITERATION_2, "train", "--run-dir", str(tmp_path / "kill")]
    for k, v in common.items():
        if k == "progress":
            argv.append("--no-progress")
        else:
            argv += [f"--{k.replace('_', '-')}", str(v)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert (tmp_path / "kill" / "ckpt" / "iter-0001.pkl").exists()
    assert not (tmp_path / "kill" / "ckpt" / "iter-0002.pkl").exists()  # it died mid-run
    partial = (tmp_path / "kill" / "rollouts.jsonl").read_text().splitlines()
    assert len(partial) == TINY["questions_per_iter"] * TINY["group_size"]
    with open(tmp_path / "kill" / "rollouts.jsonl", "a") as f:
        f.write('{"a torn line from a write the kill interrupted')  # must be cut on resume
    resumed = train(tmp_path / "kill", resume=True, **common)
    for k in ref.params:
        assert np.array_equal(ref.params[k], resumed.params[k]), k
    a = (tmp_path / "ref" / "rollouts.jsonl").read_text().splitlines()
    b = (tmp_path / "kill" / "rollouts.jsonl").read_text().splitlines()
    assert len(a) == len(b) == TINY["iterations"] * TINY["questions_per_iter"] * TINY["group_size"]
    assert [_strip_times(x) for x in a] == [_strip_times(x) for x in b]
    ma = [m["loss_last"] for m in ref.metrics]
    assert ma == [m["loss_last"] for m in resumed.metrics]
    with pytest.raises(ValueError, match="beta"):
        train(tmp_path / "kill", resume=True, **dict(common, beta=0.9))


def test_cli_flags_cover_the_config():
    import argparse
    p = add_train_arguments(argparse.ArgumentParser())
    ns = p.parse_args(["--run-dir", "x", "--iterations", "2", "--regimes", "constraint",
                       "--algo", "grpo", "--no-progress", "--resume"])
    assert ns.iterations == 2 and ns.regimes == ["constraint"] and ns.algo == "grpo"
    assert ns.resume and not ns.progress
    assert callable(evaluate)


def test_resume_refuses_a_checkpoint_of_an_older_policy(data, tmp_path):
    """A checkpoint whose parameters have another feature layout (the policy before #16 had
    114 features) stops --resume with an error naming the checkpoint, before any episode."""
    from agents.rl.checkpoint import save_checkpoint
    from agents.rl.runfiles import RunFileError
    cfg = TrainConfig(run_dir=str(tmp_path / "old"), **dict(TINY, curve_per_regime=0))
    (tmp_path / "old").mkdir()
    cfg.save(tmp_path / "old" / "config.json")
    old = init_params(114, cfg.hidden, cfg.seed)
    save_checkpoint(tmp_path / "old", 1, {"params": old, "opt_state": None, "metrics": [],
                                          "config": cfg.to_json()})
    with pytest.raises(RunFileError, match="older policy"):
        train_run(cfg, resume=True, data=data)


def test_loro_cli_has_help_and_defaults_and_its_table_reads_the_run(tmp_path):
    import argparse
    from agents.rl.cli import add_loro_arguments
    from agents.rl.loro import loro_markdown
    p = add_loro_arguments(argparse.ArgumentParser())
    ns = p.parse_args(["--run-dir", "x", "--iterations", "2"])
    assert ns.hold_out_regimes == list(REGIME_NAMES) and ns.n == 100 and ns.iterations == 2
    assert not hasattr(ns, "regimes")  # every run trains on the five regimes it does not hold out
    assert all(a.help for a in p._actions)
    st = {"score": 0.5, "ci": [0.4, 0.6], "tool_calls": 5.0}
    d = {"diff": 0.1, "lo": -0.05, "hi": 0.25}
    md = loro_markdown({"held_out": {"numeric": {
        "n": 86, "agents": {"heuristic": st, "base": dict(st, score=0.1), "trained": st},
        "trained_vs_base": d, "trained_vs_heuristic": d}}})
    assert "| numeric (86) | 0.500 [0.40, 0.60] | 0.100 [0.40, 0.60] |" in md
    assert "+0.100 [-0.05, +0.25]" in md


@pytest.mark.slow
def test_loro_trains_without_the_held_out_regime(data_dir, tmp_path):
    from agents.rl.loro import run_loro
    cfg = TrainConfig(run_dir=str(tmp_path / "loro"), data_dir=str(data_dir), workers=1,
                      **dict(TINY, iterations=1, questions_per_iter=5, group_size=2,
                             curve_per_regime=0))
    out = run_loro(cfg, n_per_regime=3, regimes=("procedure",))
    h = out["held_out"]["procedure"]
    assert "procedure" not in h["trained_on"] and len(h["trained_on"]) == 5
    assert TrainConfig.load(tmp_path / "loro" / "procedure" / "config.json").regimes == tuple(
        h["trained_on"])
    assert h["n"] == 3 and set(h["agents"]) == {"heuristic", "base", "trained"}
    assert (tmp_path / "loro" / "loro.md").read_text().startswith("| held-out regime")


@pytest.mark.slow
def test_default_trains_its_runs_side_by_side_with_the_sequential_result(data, data_dir,
                                                                          tmp_path):
    """The default's three trainings run in forked processes at once (each sampling in its
    own process); every run must end exactly where training it alone ends."""
    from agents.rl.cli import _train_side_by_side
    small = dict(TINY, iterations=2, questions_per_iter=2, group_size=2, grad_steps=1,
                 curve_per_regime=1)
    base = TrainConfig(run_dir=str(tmp_path), data_dir=str(data_dir), workers=2, **small)
    runs = {r: base.replace(run_dir=str(tmp_path / "side" / r), regimes=(r,))
            for r in ("constraint", "report", "procedure")}
    side = _train_side_by_side(runs, base, progress=False)
    with Sampler(str(data.index_dir), workers=1) as s:
        for r, cfg in runs.items():
            alone = train_run(cfg.replace(run_dir=str(tmp_path / "alone" / r)), data=data,
                              sampler=s)
            assert side[r].params.keys() == alone.params.keys()
            for k in alone.params:
                np.testing.assert_array_equal(side[r].params[k], alone.params[k])
            assert [m["reward"] for m in side[r].metrics] == [m["reward"]
                                                              for m in alone.metrics]
            assert ((tmp_path / "side" / r / "rollouts.jsonl").read_text().count("\n")
                    == (tmp_path / "alone" / r / "rollouts.jsonl").read_text().count("\n"))


def test_members_train_apart_and_the_policy_is_their_mean_scorer(data, data_dir, tmp_path):
    from agents.policy import scores
    from agents.rl.cli import load_policy
    from agents.rl.trainer import initial_params, mean_scorer
    small = dict(TINY, iterations=2, questions_per_iter=4, group_size=2, grad_steps=2,
                 curve_per_regime=0)
    cfg = TrainConfig(run_dir=str(tmp_path / "ens"), data_dir=str(data_dir), workers=1,
                      seed=3, members=2, **small)
    res = train_run(cfg, data=data)
    # member k is an ordinary run: seed 3 * 2 + k, iterations / members iterations
    m1 = cfg.member(1)
    assert (m1.seed, m1.iterations, m1.members) == (7, 1, 1)
    alone = train_run(m1.replace(run_dir=str(tmp_path / "alone")), data=data)
    got1 = load_policy(tmp_path / "ens" / "member-1")[0]
    assert all(np.array_equal(got1[k], alone.params[k]) for k in got1)
    params, loaded_cfg = load_policy(tmp_path / "ens")  # hidden units: 2 x 16
    assert loaded_cfg.members == 2 and params["W1"].shape == (N_FEATURES, 32)
    members = [load_policy(tmp_path / "ens" / f"member-{k}")[0] for k in range(2)]
    X = np.random.default_rng(0).normal(size=(40, N_FEATURES))
    assert np.allclose(scores(params, X), np.mean([scores(p, X) for p in members], axis=0))
    assert [int(r["iteration"]) for r in res.metrics] == [1, 2]
    assert len((tmp_path / "ens" / "metrics.csv").read_text().strip().splitlines()) == 3
    # the untrained comparison: the members' initial scorers' mean; one member: init_params
    assert np.allclose(scores(initial_params(cfg), X), np.mean(
        [scores(init_params(N_FEATURES, 16, s), X) for s in (6, 7)], axis=0))
    one = TrainConfig(seed=3)
    assert all(np.array_equal(initial_params(one)[k], init_params(N_FEATURES, 16, 3)[k])
               for k in ("w0", "W1", "b1", "w2"))
    assert mean_scorer([alone.params])["W1"].shape == (N_FEATURES, 16)
    with pytest.raises(ValueError):
        train_run(cfg.replace(run_dir=str(tmp_path / "odd"), iterations=3), data=data)
