"""The Ray executor against a real Ray: a local Ray head (2 CPUs, no dashboard) started by
this module and shut down at its end.

Same seeds give the same episodes on Ray and on the embedded executor; a short asynchronous
OAPL run on Ray actors, one of them SIGKILLed mid-run, ends in exactly the state of the same
run on local processes; a learner process driving the same Ray cluster (`--executor ray
--ray-address`), SIGKILLed mid-run, resumes to that state; actors killed mid-evaluation and
mid-synthesis (one or both) change no score; synthesis on Ray writes the local executor's
training tasks; and no wait on Ray is unbounded (a stuck call, an actor that does not start,
an init that fails, an address where nothing listens: each a clear error within seconds).
Every executor here gives up after 120 s without progress, so a hang fails the test instead
of stalling CI. Skipped only when the `ray` extra is not installed (CI installs it: it is part
of `.[test]`).

The head is started in-process (`ray.init`: GCS on a free port of 127.0.0.1, 2 CPUs, no
dashboard) and shut down at the end, rather than with `ray start --head` and `ray stop`:
`ray stop` kills every Ray process on the machine, other jobs' included.
"""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the `ray` extra is not installed "
                                        "(python -m pip install '.[ray]')")

from agents.executors.rayexec import (RayCallTimeout, RayExecutor,  # noqa: E402
                                      check_reachable, connect)
from agents.policy import N_FEATURES, init_params  # noqa: E402
from agents.rl import Job, Sampler, TrainConfig, prepare, train_run  # noqa: E402
from agents.rl.cli import train  # noqa: E402
from agents.rl.rollout import episode_seed  # noqa: E402

from test_async_oapl import (DATA, SMALL, _cli, _lines, _same_params,  # noqa: E402
                             kill_after_first_checkpoint)

pytestmark = pytest.mark.slow
LAGGED = dict(SMALL, iterations=3, max_lag=1, replay=2, workers=2)
HANG = 120.0  # seconds without a finished call after which a Ray wait fails (not hangs)


@pytest.fixture(scope="module")
def cluster():
    connect(None, num_cpus=2)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray-data")
    prepare(d, **DATA)
    return d


@pytest.fixture(scope="module")
def ray_sampler(cluster, data_dir):
    """One pair of Ray actors for the module (starting actors is the slow part)."""
    with Sampler(str(prepare(data_dir, **DATA).index_dir), workers=2, executor="ray") as s:
        s.executor.call_timeout = HANG
        yield s


@pytest.fixture(scope="module")
def reference(data_dir, tmp_path_factory):
    """The lagged run on the embedded executor."""
    return train(tmp_path_factory.mktemp("ray-ref") / "run", data_dir=str(data_dir), **LAGGED)


def _strip(results: list[dict]) -> list:
    out = []
    for r in results:
        rec = dict(r["record"], cost={k: v for k, v in r["record"]["cost"].items()
                                      if "seconds" not in k})
        out.append((rec, r["logp"], r["X"].tolist()))
    return out


def test_same_seeds_same_episodes_on_ray_and_local(ray_sampler, data_dir):
    data = prepare(data_dir, **DATA)
    tasks = [t for ts in data.train_tasks(("constraint", "report")).values() for t in ts[:4]]
    jobs = [Job(t, episode_seed("ray", i, g)) for i, t in enumerate(tasks) for g in range(2)]
    params = init_params(N_FEATURES, seed=3)
    with Sampler(str(data.index_dir), workers=2) as local:
        a = local.run(jobs, params)
    assert _strip(a) == _strip(ray_sampler.run(jobs, params))
    ex = ray_sampler.executor  # plain calls too, results in order
    assert ex.map(abs, [(-i,) for i in range(10)]) == list(range(10))


def test_async_training_on_ray_survives_a_killed_worker(ray_sampler, data_dir, reference,
                                                        tmp_path):
    data = prepare(data_dir, **DATA)
    pids = ray_sampler.executor.worker_pids()

    def killer():
        first = tmp_path / "run" / "ckpt" / "iter-0001.pkl"
        while not first.exists():
            time.sleep(0.01)
        os.kill(pids[0], signal.SIGKILL)
    t = threading.Thread(target=killer, daemon=True)
    t.start()
    res = train_run(TrainConfig(run_dir=str(tmp_path / "run"), data_dir=str(data_dir),
                                executor="ray", **LAGGED), data=data, sampler=ray_sampler)
    t.join(5)
    assert pids[0] not in ray_sampler.executor.worker_pids()  # the actor was restarted
    assert _same_params(reference.params, res.params)
    assert _lines(reference.run_dir, drop=()) == _lines(tmp_path / "run", drop=())


def test_learner_killed_on_ray_resumes(cluster, ray_sampler, data_dir, reference, tmp_path):
    common = dict(LAGGED, data_dir=str(data_dir))
    run = tmp_path / "kill"
    kill_after_first_checkpoint(_cli(run, common, "--executor", "ray", "--ray-address",
                                     cluster), run)
    assert not (run / "ckpt" / "iter-0003.pkl").exists()
    resumed = train_run(TrainConfig(run_dir=str(run), executor="ray", **common), resume=True,
                        data=prepare(data_dir, **DATA), sampler=ray_sampler)
    assert _same_params(reference.params, resumed.params)
    assert _lines(reference.run_dir, drop=()) == _lines(run, drop=())
    assert np.isfinite(resumed.metrics[-1]["loss_last"])


def _kill_mid_run(ex, pids: list[int]) -> tuple[threading.Thread, dict]:
    """SIGKILL the actors `pids` once calls are in flight on `ex` and some have finished;
    `box["pending"]`: the calls still in flight at the kill."""
    box: dict = {}

    def killer():
        seen, deadline = 0, time.monotonic() + HANG
        while time.monotonic() < deadline:
            n = len(ex.pending)
            seen = max(seen, n)
            if 0 < n < seen:
                break
            time.sleep(0.0005)
        box["pending"] = len(ex.pending)
        for p in pids:
            os.kill(p, signal.SIGKILL)
    t = threading.Thread(target=killer, daemon=True)
    t.start()
    return t, box


def test_actors_killed_mid_evaluation_or_mid_synthesis_change_no_score(ray_sampler, data_dir):
    """Evaluation (greedy and 4 samples per question) and synthesis solver rollouts on Ray
    give the embedded executor's scores, also when one actor or both are SIGKILLed while the
    calls are in flight (restarted, calls retried)."""
    from agents.rl.evaluate import evaluate_agent
    from agents.synth.pipeline import default_solvers, pass_rates
    data = prepare(data_dir, **DATA)
    params = init_params(N_FEATURES, seed=5)
    ex = ray_sampler.executor

    def evaluation(sampler):
        ev = evaluate_agent(sampler, data.eval_tasks, "policy", params, samples=4, seed=7)
        return ev["scores"], ev["costs"]["tool_calls"], ev["costs"]["tokens"]

    with Sampler(str(data.index_dir), workers=2) as local:
        want = evaluation(local)
    tasks, solver = data.train_pool[:40], default_solvers()[1]
    want_synth = pass_rates(data.index, tasks, solver, 4, 0.8, seed=5)
    assert evaluation(ray_sampler) == want
    for victims in ("one", "both"):
        pids = ex.worker_pids()
        dead = pids[:1] if victims == "one" else pids
        t, box = _kill_mid_run(ex, dead)
        assert evaluation(ray_sampler) == want, victims
        t.join(5)
        assert box["pending"] > 0, "the kill came after the evaluation"
        assert not set(dead) & set(ex.worker_pids())  # restarted
        pids = ex.worker_pids()
        t, box = _kill_mid_run(ex, pids[:1] if victims == "one" else pids)
        assert pass_rates(data.index, tasks, solver, 4, 0.8, seed=5,
                          sampler=ray_sampler) == want_synth, victims
        t.join(5)
        assert box["pending"] > 0, "the kill came after the synthesis rollouts"


def test_synthesis_on_ray_is_the_local_synthesis(ray_sampler, data_dir, tmp_path,
                                                 monkeypatch):
    """Synthesis (exploration, re-checks, solver rollouts) on Ray actors writes the local
    executor's training tasks byte for byte: `prepare --executor ray` (actors of its own)
    and two rounds on the module's actors against the in-process pipeline."""
    from agents.executors import rayexec
    from agents.synth import synthesize
    monkeypatch.setattr(rayexec, "CALL_TIMEOUT", HANG)
    prepare(tmp_path / "d", executor="ray", workers=2, **DATA)
    for f in ("train_tasks.jsonl", "synth.json"):
        assert (tmp_path / "d" / f).read_bytes() == (data_dir / f).read_bytes(), f
    data = prepare(data_dir, **DATA)
    flat = [t for ts in data.eval_tasks.values() for t in ts]
    kwargs = dict(per_round=120, rounds=2, seed=3, eval_tasks=flat, world=data.world)
    here = synthesize(data.index, [t.question for t in flat], **kwargs)
    there = synthesize(data.index, [t.question for t in flat], sampler=ray_sampler, **kwargs)
    assert [t.to_json() for t in there.kept] == [t.to_json() for t in here.kept]
    assert there.dropped == here.dropped and there.rounds == here.rounds
    assert len(here.rounds) == 2 and here.kept


def test_no_wait_on_ray_is_unbounded(cluster):
    """A stuck call, an actor that does not start, an actor whose init fails and an address
    where nothing listens are each a clear error within seconds, never a hang."""
    ex = RayExecutor(1, call_timeout=2)
    try:
        t0 = time.monotonic()
        h = ex.submit(time.sleep, 60)
        with pytest.raises(RayCallTimeout, match="AGENTS_RAY_CALL_TIMEOUT"):
            h.result()
        assert h.done() and time.monotonic() - t0 < 30
        h2 = ex.submit(time.sleep, 60)   # the asynchronous loop's wait: the handle turns done
        from agents.executors import wait_any
        assert wait_any([h2], timeout=30) == [0]
        with pytest.raises(RayCallTimeout):
            h2.result()
    finally:
        ex.close()
    t0 = time.monotonic()
    with pytest.raises(RayCallTimeout, match="did not start"):
        RayExecutor(1, init=time.sleep, initargs=(60,), start_timeout=2)
    with pytest.raises(ray.exceptions.RayActorError, match="invalid literal"):
        RayExecutor(1, init=int, initargs=("x",))
    with pytest.raises(ConnectionError, match="no Ray cluster answers"):
        check_reachable("127.0.0.1:1", timeout=1)
    assert time.monotonic() - t0 < 60


def test_hyperopt_sensitivity_grid_on_ray_matches_local(cluster, tmp_path):
    """The fourth workload behind the executor interface: the hyperopt sensitivity grid
    (benchmarks/hyperopt_sensitivity.py --executor ray) gives the local executor's rows."""
    import csv
    from benchmarks import hyperopt_sensitivity as hs
    quick = ["--quick", "--epochs", "1", "--no-adam", "--heights", "2", "--steps", "0.01",
             "1.0", "--seeds", "1", "--variants", "ours", "--overhead-heights",
             "--memory-steps", "0", "--jobs", "2"]
    rows = {}
    for kind in ("local", "ray"):
        hs.main(quick + ["--executor", kind, "--out", str(tmp_path / kind)])
        with open(tmp_path / kind / "sensitivity_quick.csv") as f:
            rows[kind] = [{k: v for k, v in r.items() if k != "seconds"}
                          for r in csv.DictReader(f)]
    assert len(rows["local"]) == 2 and rows["local"] == rows["ray"]
