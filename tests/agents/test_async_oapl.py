"""Executors (the embedded local one) and asynchronous OAPL.

The local executor keeps call order, runs each worker's init, and replaces a worker killed
with SIGKILL (its calls run again). The asynchronous loop at max_lag 0 is the synchronous loop
step for step; with an enforced lag every episode records the version that sampled it; a
learner killed mid-run (a real process, SIGKILL) resumes to the uninterrupted state, and so
does a run whose worker is killed. The tests with a real Ray are in test_ray_executor.py.
"""
from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from agents.executors import LocalExecutor, make_executor, wait_any
from agents.executors.local import LocalCallTimeout
from agents.policy import N_FEATURES, init_params
from agents.rl import Job, Sampler, TrainConfig, prepare, train_run
from agents.rl import trainer
from agents.rl.async_oapl import check_config
from agents.rl.cli import train
from agents.rl.rollout import _WireX, episode_seed

ROOT = Path(__file__).resolve().parents[2]
DATA = dict(eval_per_regime=6, synth_per_round=180, synth_rounds=1)
SMALL = dict(iterations=4, questions_per_iter=8, group_size=4, grad_steps=4,
             curve_per_regime=0, progress=False, **DATA)
_STATE: dict = {}


def _set(v):
    _STATE["v"] = v


def _get(x):
    return _STATE.get("v"), x


def _slow_square(x):
    time.sleep(0.05)
    return x * x


def test_local_executor_keeps_order_and_runs_each_workers_init():
    with LocalExecutor(2, _set, (7,)) as ex:
        assert ex.map(_get, [(i,) for i in range(20)]) == [(7, i) for i in range(20)]
    with LocalExecutor(1, _set, (8,)) as ex:  # this process
        assert ex.map(_get, [(1,), (2,)]) == [(8, 1), (8, 2)]


def test_local_executor_replaces_a_killed_worker_and_reruns_its_calls():
    with LocalExecutor(2) as ex:
        handles = [ex.submit(_slow_square, i) for i in range(40)]
        time.sleep(0.3)
        os.kill(ex.worker_pids()[0], signal.SIGKILL)
        assert [h.result() for h in handles] == [i * i for i in range(40)]
        assert ex.restarts >= 1


def _sleep_forever():
    while True:
        time.sleep(1)


def _own_timeout():
    raise TimeoutError("the call's own timeout")


def test_a_hung_local_call_times_out_and_its_worker_is_replaced():
    """A call that never returns is an error naming it once it ran past the call timeout
    (its worker SIGKILLed, never retried); the other calls finish, and the replaced pool runs
    each new worker's init. Waited on through `result()` and through `wait_any`."""
    with LocalExecutor(2, _set, (7,), call_timeout=1) as ex:
        hung = ex.submit(_sleep_forever)
        others = [ex.submit(_slow_square, i) for i in range(10)]
        with pytest.raises(LocalCallTimeout, match="'_sleep_forever'.*AGENTS_LOCAL_CALL_TIMEOUT"):
            hung.result()
        assert hung.done()
        assert [h.result() for h in others] == [i * i for i in range(10)]
        assert ex.map(_get, [(i,) for i in range(6)]) == [(7, i) for i in range(6)]
        assert ex.restarts >= 1
        again = ex.submit(_sleep_forever)
        assert wait_any([again], timeout=120) == [0]
        with pytest.raises(LocalCallTimeout):
            again.result()
        with pytest.raises(TimeoutError, match="own timeout"):  # a call's own TimeoutError
            ex.submit(_own_timeout).result()


def _large_result_once(marker: str):
    """The first call announces itself, then returns ~200 MB (its pickle takes a while to write
    into the result pipe); later calls return at once."""
    if os.path.exists(marker):
        return b"small"
    open(marker, "w").close()
    return b"x" * 200_000_000


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.1, 0.2, 0.35, 0.5])
def test_a_worker_killed_while_writing_its_result_breaks_the_pool_instead_of_hanging(tmp_path, delay):
    """A worker killed mid-write leaves a partial message in the result pipe: CPython's pool
    then blocks reading the rest, forever (a full-suite run hung here; without the fix this
    test hangs at a delay of 0.35 s on the 2-core machine). The executor kills the other
    workers when one is dead, so the pool breaks and the call reruns."""
    marker = str(tmp_path / "started")
    with LocalExecutor(2) as ex:
        handle = ex.submit(_large_result_once, marker)
        others = [ex.submit(_slow_square, i) for i in range(4)]
        deadline = time.monotonic() + 30
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(delay)   # into the pickling and writing of the large result
        os.kill(ex.worker_pids()[0], signal.SIGKILL)
        box: dict = {}
        waiter = threading.Thread(target=lambda: box.update(out=handle.result(),
                                                            rest=[h.result() for h in others]), daemon=True)
        waiter.start()
        waiter.join(120)
        assert not waiter.is_alive(), "the executor hung after a worker died"
        assert box["out"] in (b"small", b"x" * 200_000_000)
        assert box["rest"] == [i * i for i in range(4)]


def test_bad_executor_and_lag_settings_are_refused():
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("spark")
    with pytest.raises(ValueError, match="needs --executor ray"):
        make_executor("local", address="ray://x:1")
    for kw, msg in ((dict(max_lag=-1), "max_lag"), (dict(replay=0), "replay"),
                    (dict(lag_mode="free"), "lag_mode"), (dict(oapl_anchor="x"), "oapl_anchor"),
                    (dict(is_clip=0.0), "is_clip")):
        with pytest.raises(ValueError, match=msg):
            check_config(TrainConfig(**kw))


def test_anchor_default_is_learner_is_where_data_can_be_stale_and_old_configs_keep_theirs(
        tmp_path):
    """oapl_anchor "auto" (the default) is learner-is for OAPL with max_lag > 0 or replay > 1
    and behaviour otherwise (lag 0: the synchronous loop, unchanged); a config.json written
    before the key existed reads as behaviour, and resuming it with today's defaults keeps it
    (an explicitly different anchor is still refused)."""
    import argparse
    from agents.rl.cli import add_train_arguments
    from agents.rl.runfiles import read_json, write_json
    assert TrainConfig().oapl_anchor == "auto"
    assert add_train_arguments(argparse.ArgumentParser()).parse_args([]).oapl_anchor == "auto"
    assert TrainConfig().resolved().oapl_anchor == "behaviour"
    assert not trainer.is_async(TrainConfig())
    for kw in (dict(max_lag=1), dict(max_lag=2, lag_mode="bound"), dict(replay=2)):
        assert TrainConfig(**kw).resolved().oapl_anchor == "learner-is"
        assert trainer.is_async(TrainConfig(**kw))
    assert TrainConfig(max_lag=2, algo="grpo").resolved().oapl_anchor == "behaviour"
    for a in ("behaviour", "learner", "learner-is"):  # a chosen anchor stays
        assert TrainConfig(max_lag=2, oapl_anchor=a).resolved().oapl_anchor == a
        assert TrainConfig(oapl_anchor=a).resolved(TrainConfig(oapl_anchor="learner")
                                                   ).oapl_anchor == a
    old = TrainConfig(max_lag=2, oapl_anchor="behaviour").to_json()
    del old["oapl_anchor"], old["is_clip"], old["is_normalize"]
    write_json(tmp_path / "config.json", old)
    saved = TrainConfig.load(tmp_path / "config.json")
    assert saved.oapl_anchor == "behaviour" and saved.is_clip == 1.0
    resumed = TrainConfig(max_lag=2).resolved(saved)
    assert resumed.oapl_anchor == "behaviour"
    resumed.check_compatible(saved)
    with pytest.raises(ValueError, match="oapl_anchor"):
        TrainConfig(max_lag=2, oapl_anchor="learner-is").resolved(saved).check_compatible(saved)
    # a run of this code saved its concrete anchor, which a resume keeps
    write_json(tmp_path / "config.json", TrainConfig(max_lag=2).resolved().to_json())
    assert read_json(tmp_path / "config.json")["oapl_anchor"] == "learner-is"
    assert TrainConfig(max_lag=2).resolved(TrainConfig.load(tmp_path / "config.json")
                                           ).oapl_anchor == "learner-is"


def _toy_batch(seed=0):
    from agents.policy import N_FEATURES
    from agents.rl.batch import pack
    rng = np.random.default_rng(seed)
    res = []
    for _ in range(8):
        nc = [int(rng.integers(2, 5)) for _ in range(int(rng.integers(1, 4)))]
        res.append({"X": rng.normal(size=(sum(nc), N_FEATURES)), "n_cand": nc,
                    "chosen": [int(rng.integers(0, n)) for n in nc],
                    "logp": list(rng.normal(size=len(nc)) - 1.0)})
    return pack(res, rng.random(8), [i // 4 for i in range(8)])


def test_importance_corrected_oapl_is_plain_oapl_on_policy_and_reweights_off_policy():
    """learner-is: with the learner's policy equal to the behaviour policy every ratio is 1
    and the loss and V(x) are plain OAPL's (the gradient: the slow training test below); off-policy V(x) is the weighted
    log-mean-exp with ratios truncated at is_clip, and each squared error carries its ratio."""
    from agents.policy import N_FEATURES, episode_logp, init_params, oapl_loss
    from agents.policy.model import oapl_value
    from agents.rl.async_oapl import learner_is_args, oapl_is_loss, weighted_value
    b, p = _toy_batch(), init_params(N_FEATURES, 16, 0)
    plain = b.oapl_args(0.1, 0.5)
    same = learner_is_args(b, b.logp_lag, 0.1, 0.5, 1.0)
    np.testing.assert_array_equal(same[5], plain[5])
    np.testing.assert_array_equal(same[6], np.ones((8, 1)))
    assert oapl_loss(p, *plain) == pytest.approx(oapl_is_loss(p, *same), rel=1e-12)
    shift = np.array([[2.0], [-1.0], [0.0], [-3.0], [0.5], [0.1], [-0.2], [1.0]])
    for clip in (1.0, 2.0):
        args = learner_is_args(b, b.logp_lag + shift, 0.1, 0.5, clip)
        w = np.minimum(np.exp(shift[:, 0]), clip)
        np.testing.assert_allclose(args[6][:, 0], w)
        np.testing.assert_array_equal(args[4], b.logp_lag + shift)  # the learner is the anchor
        for g in b.groups:
            r = b.rewards[g]
            v = 0.5 * np.log(np.sum(w[g] * np.exp(r / 0.5)) / np.sum(w[g]))
            np.testing.assert_allclose(args[5][g, 0], r - v)
        lp = episode_logp(p, b.X, b.neg, b.onehot, b.seg, b.n_dec, b.n_cand)
        want = np.sum(w[:, None] * (0.1 * (lp - args[4]) - args[5]) ** 2) / 8
        assert oapl_is_loss(p, *args) == pytest.approx(float(want), rel=1e-12)
    # normalize: the loss weights rescaled to mean 1, V(x) (self-normalised) unchanged
    norm = learner_is_args(b, b.logp_lag + shift, 0.1, 0.5, 1.0, normalize=True)
    w = np.minimum(np.exp(shift[:, 0]), 1.0)
    np.testing.assert_allclose(norm[6][:, 0], w / w.mean())
    np.testing.assert_array_equal(norm[5], learner_is_args(b, b.logp_lag + shift, 0.1, 0.5,
                                                           1.0)[5])
    # a group whose ratios all underflow falls back to the unweighted value
    assert weighted_value(np.array([0.2, 0.7]), np.zeros(2), 0.5) == oapl_value(
        np.array([0.2, 0.7]), 0.5)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("async-data")
    prepare(d, **DATA)
    return d


@pytest.mark.slow
def test_synthesis_rollouts_in_executor_workers_score_the_same(data_dir):
    from agents.synth.pipeline import default_solvers, pass_rates
    data = prepare(data_dir, **DATA)
    tasks, solver = data.train_pool[:6], default_solvers()[1]
    here = pass_rates(data.index, tasks, solver, 3, 0.8, seed=5)
    with Sampler(str(data.index_dir), workers=2) as s:
        assert pass_rates(data.index, tasks, solver, 3, 0.8, seed=5, sampler=s) == here
        # a solver that does not pickle runs in this process instead, with the same scores
        assert pass_rates(data.index, tasks, lambda: solver(), 3, 0.8, seed=5,
                          sampler=s) == here


def test_worker_results_cross_the_process_boundary_bit_for_bit(data_dir):
    """Decision features travel sparsely from a worker (`rollout._WireX`) and arrive as plain
    arrays with the in-process run's exact bits."""
    data = prepare(data_dir, **DATA)
    tasks = data.train_pool[:5]
    jobs = [Job(t, episode_seed("wire", i)) for i, t in enumerate(tasks)]
    params = init_params(N_FEATURES, TrainConfig().hidden, 3)
    with Sampler(str(data.index_dir), workers=1) as s:
        here = s.run(jobs, params, chunk=2)
    with Sampler(str(data.index_dir), workers=2) as s:
        there = s.run(jobs, params, chunk=2)
    for a, b in zip(here, there):
        assert type(b["X"]) is np.ndarray and b["X"].dtype == a["X"].dtype
        assert np.array_equal(a["X"].view(np.uint64), b["X"].view(np.uint64))
        assert a["logp"] == b["logp"] and a["chosen"] == b["chosen"]
        assert a["record"]["score"] == b["record"]["score"]
    x = np.array([[0.0, -0.0, np.nan, 1.5]]).view(_WireX)   # sign of zero and NaN survive
    for proto in (2, 5):
        y = pickle.loads(pickle.dumps(x, protocol=proto))
        assert type(y) is np.ndarray and np.array_equal(x.view(np.uint64), y.view(np.uint64))


def _cfg(tmp_path, data_dir, name, **kw) -> TrainConfig:
    return TrainConfig(run_dir=str(tmp_path / name), data_dir=str(data_dir),
                       **dict(SMALL, **kw))


def _lines(run_dir: Path, drop=("version", "lag")) -> list[dict]:
    out = []
    for line in (run_dir / "rollouts.jsonl").read_text().splitlines():
        d = json.loads(line)
        d["cost"].pop("wall_seconds")
        d["cost"].pop("tool_seconds")
        for k in drop:
            d.pop(k, None)
        out.append(d)
    return out


def _same_params(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_lag_zero_is_the_synchronous_loop_exactly(data_dir, tmp_path, monkeypatch):
    data = prepare(data_dir, **DATA)
    with Sampler(str(data.index_dir), workers=2) as s:
        sync = train_run(_cfg(tmp_path, data_dir, "sync", iterations=3), data=data, sampler=s)
        monkeypatch.setattr(trainer, "is_async", lambda cfg: True)
        asyn = train_run(_cfg(tmp_path, data_dir, "async", iterations=3), data=data, sampler=s)
    assert _same_params(sync.params, asyn.params)
    assert [m["loss_last"] for m in sync.metrics] == [m["loss_last"] for m in asyn.metrics]
    assert _lines(tmp_path / "sync") == _lines(tmp_path / "async")
    assert all(d["lag"] == 0 for d in _lines(tmp_path / "async", drop=()))


@pytest.mark.slow
def test_enforced_lag_records_versions_and_replay_and_bound_mode(data_dir, tmp_path):
    data = prepare(data_dir, **DATA)
    with Sampler(str(data.index_dir), workers=2) as s:
        res = train_run(_cfg(tmp_path, data_dir, "lag2", max_lag=2, replay=2), data=data,
                        sampler=s)
        bound = train_run(_cfg(tmp_path, data_dir, "bound", max_lag=1, lag_mode="bound"),
                          data=data, sampler=s)
    for d in _lines(tmp_path / "lag2", drop=()):
        b = d["iteration"] - 1
        assert d["version"] == max(0, b - 2) and d["lag"] == b - d["version"]
    assert [m["lag_max"] for m in res.metrics] == [0, 1, 2, 2]
    # lags at use: replay reuses a batch one update later, one version staler
    assert [m["lags_used"] for m in res.metrics] == ["0", "1 1", "2 2", "3 2"]
    assert [m["replay_batches"] for m in res.metrics] == [1, 2, 2, 2]
    assert [m["decisions"] for m in res.metrics][1] > res.metrics[1]["episodes"]
    lags = [d["lag"] for d in _lines(tmp_path / "bound", drop=())]
    assert len(lags) == 4 * 32 and set(lags) <= {0, 1}
    assert not any((tmp_path / "lag2" / "spool").iterdir())  # all covered by checkpoints


@pytest.mark.slow
def test_learner_anchor_is_the_behaviour_policy_without_lag(data_dir, tmp_path):
    """At lag 0 the learner's policy at the start of an update is the one that sampled the
    batch, so anchoring OAPL there changes nothing but rounding; with lag it does change."""
    data = prepare(data_dir, **DATA)
    kw = dict(iterations=2)
    with Sampler(str(data.index_dir), workers=2) as s:
        runs = {name: train_run(_cfg(tmp_path, data_dir, name, **dict(kw, **extra)), data=data,
                                sampler=s)
                for name, extra in (("beh", {}), ("learn", dict(oapl_anchor="learner")),
                                    ("is", dict(oapl_anchor="learner-is")),
                                    ("beh2", dict(max_lag=1, oapl_anchor="behaviour")),
                                    ("learn2", dict(max_lag=1, oapl_anchor="learner")),
                                    ("is2", dict(max_lag=1, oapl_anchor="learner-is")))}
    for name in ("learn", "is"):
        np.testing.assert_allclose([m["loss_last"] for m in runs["beh"].metrics],
                                   [m["loss_last"] for m in runs[name].metrics], rtol=1e-6)
    firsts = {runs[n].metrics[1]["loss_first"] for n in ("beh2", "learn2", "is2")}
    assert len(firsts) == 3


def _drop_anchor_from_run(run_dir: Path, keep_until: int) -> None:
    """Make `run_dir` look like a run of code from before `oapl_anchor` existed, killed after
    checkpoint `keep_until`: later checkpoints gone, the key gone from config.json and from
    the checkpoints' configs (both rewritten with valid checksums)."""
    import hashlib
    import pickle
    from agents.rl.checkpoint import MAGIC, read_checkpoint
    from agents.rl.runfiles import read_json, write_json
    d = read_json(run_dir / "config.json")
    del d["oapl_anchor"]
    write_json(run_dir / "config.json", d)
    for p in sorted((run_dir / "ckpt").glob("iter-*.pkl")):
        payload = read_checkpoint(p)
        if payload["iteration"] > keep_until:
            p.unlink()
            continue
        del payload["config"]["oapl_anchor"]
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        p.write_bytes(MAGIC + hashlib.sha256(data).hexdigest().encode()
                      + b" %d\n" % len(data) + data)
    (run_dir / "policy.npz").unlink()


@pytest.mark.slow
def test_a_run_of_older_code_resumes_with_the_anchor_it_was_started_with(data_dir, tmp_path):
    """A lagged run started before the default became learner-is (config.json and checkpoints
    without `oapl_anchor`: it trained with the behaviour anchor) resumes from the command line
    with today's defaults and ends exactly where the uninterrupted behaviour-anchored run
    does; a new run with the same flags trains with learner-is."""
    import shutil
    from agents.rl.cli import main
    from agents.rl.runfiles import read_json
    common = dict(SMALL, iterations=3, data_dir=str(data_dir), max_lag=1)
    ref = train(tmp_path / "ref", oapl_anchor="behaviour", **common)
    new = train(tmp_path / "new", **common)
    assert read_json(tmp_path / "new" / "config.json")["oapl_anchor"] == "learner-is"
    assert not _same_params(ref.params, new.params)
    old = tmp_path / "old"
    shutil.copytree(tmp_path / "ref", old)
    _drop_anchor_from_run(old, keep_until=1)
    main(_cli(old, common, "--resume")[3:])
    assert read_json(old / "config.json")["oapl_anchor"] == "behaviour"
    with np.load(old / "policy.npz") as z:
        assert _same_params(ref.params, {k: z[k] for k in z.files})
    assert _lines(tmp_path / "ref", drop=()) == _lines(old, drop=())


def _cli(run_dir: Path, cfg: dict, *extra: str) -> list[str]:
    argv = [sys.executable, "-m", "agents.rl.cli", "train", "--run-dir", str(run_dir), *extra]
    for k, v in cfg.items():
        argv += ["--no-progress"] if k == "progress" else [f"--{k.replace('_', '-')}", str(v)]
    return argv


KILL_IN_UPDATE_2 = """
import os, signal, sys
import agents.rl.async_oapl as async_oapl
from agents.rl.cli import main
real_update, calls = async_oapl._update, []
def update(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:   # the first update checkpointed, the second begun: die here
        os.kill(os.getpid(), signal.SIGKILL)
    return real_update(*args, **kwargs)
async_oapl._update = update
main(sys.argv[1:])
"""


def kill_after_first_checkpoint(argv: list[str], run_dir: Path) -> None:
    """Run the CLI (`argv`: python -m agents.rl.cli ...) in a process that SIGKILLs itself at a
    fixed event, the start of its second update (after the first checkpoint): no sleep, so no
    race with a busy or a fast machine (#23)."""
    assert argv[1:3] == ["-m", "agents.rl.cli"], argv
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = run_dir.parent / f"{run_dir.name}.stderr"   # a file, not a pipe: the learner's worker
    with open(log, "wb") as err:                      # processes outlive it and hold the pipe open
        proc = subprocess.Popen([argv[0], "-c", KILL_IN_UPDATE_2, *argv[3:]], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            proc.wait(600)
        finally:   # its orphaned workers (its process group) go too
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-2000:]
    assert (run_dir / "ckpt" / "iter-0001.pkl").exists()
    assert not (run_dir / "ckpt" / "iter-0002.pkl").exists()   # it died mid-run


@pytest.mark.slow
def test_killed_learner_resumes_to_the_uninterrupted_state(data_dir, tmp_path):
    common = dict(SMALL, data_dir=str(data_dir), workers=2, max_lag=1, replay=2)
    ref = train(tmp_path / "ref", **common)
    kill_after_first_checkpoint(_cli(tmp_path / "kill", common), tmp_path / "kill")
    assert not (tmp_path / "kill" / "ckpt" / "iter-0004.pkl").exists()
    resumed = train(tmp_path / "kill", resume=True, **common)
    assert _same_params(ref.params, resumed.params)
    assert _lines(tmp_path / "ref", drop=()) == _lines(tmp_path / "kill", drop=())
    assert [m["loss_last"] for m in ref.metrics] == [m["loss_last"] for m in resumed.metrics]


@pytest.mark.slow
def test_a_killed_worker_mid_run_changes_nothing(data_dir, tmp_path):
    data = prepare(data_dir, **DATA)
    cfg = _cfg(tmp_path, data_dir, "ref", max_lag=1)
    ref = train_run(cfg, data=data, sampler=Sampler(str(data.index_dir), workers=1))
    with Sampler(str(data.index_dir), workers=2) as s:
        def killer():
            first = tmp_path / "killed" / "ckpt" / "iter-0001.pkl"
            while not first.exists():
                time.sleep(0.01)
            os.kill(s.executor.worker_pids()[0], signal.SIGKILL)
        t = threading.Thread(target=killer, daemon=True)
        t.start()
        res = train_run(cfg.replace(run_dir=str(tmp_path / "killed")), data=data, sampler=s)
        t.join(5)
        assert s.executor.restarts >= 1
    assert _same_params(ref.params, res.params)
    assert _lines(tmp_path / "ref", drop=()) == _lines(tmp_path / "killed", drop=())
