"""The Ray executor against a real Ray: a local Ray head (2 CPUs, no dashboard) started by
this module and shut down at its end.

Same seeds give the same episodes on Ray and on the embedded executor; a short asynchronous
OAPL run on Ray actors, one of them SIGKILLed mid-run, ends in exactly the state of the same
run on local processes; a learner process driving the same Ray cluster (`--executor ray
--ray-address`), SIGKILLed mid-run, resumes to that state. Skipped only when the `ray` extra
is not installed (CI installs it: it is part of `.[test]`).
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

from agents.executors.rayexec import connect  # noqa: E402
from agents.policy import N_FEATURES, init_params  # noqa: E402
from agents.rl import Job, Sampler, TrainConfig, prepare, train_run  # noqa: E402
from agents.rl.cli import train  # noqa: E402
from agents.rl.rollout import episode_seed  # noqa: E402

from test_async_oapl import (DATA, SMALL, _cli, _lines, _same_params,  # noqa: E402
                             kill_after_first_checkpoint)

pytestmark = pytest.mark.slow
LAGGED = dict(SMALL, iterations=3, max_lag=1, replay=2, workers=2)


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
