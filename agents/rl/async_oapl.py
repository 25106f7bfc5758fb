"""Asynchronous off-policy training: samplers run ahead of the learner by up to `max_lag`.

Input: the run's config, its starting state (parameters, optimizer state, the iteration to
start at, and from a checkpoint the policy versions and replay batches it kept), the training
tasks and a `Sampler` (local processes or Ray actors, see `agents.executors`).
Output: the trained parameters and optimizer state; in the run directory the same logs as the
synchronous loop (`trainer`), where every rollouts.jsonl line also carries the `version` of the
policy that sampled the episode and its `lag`, and every metrics.csv row the lags of the
batches the update used; `spool/` holds sampled chunks not yet covered by a checkpoint.

Versions and lag: version v is the policy after v updates; update b consumes batch b (the
questions and episode seeds of the synchronous loop's iteration b) and makes version b + 1.
An episode sampled by version v and used by update b has lag b - v. Batch b may be sampled as
soon as version b - max_lag exists: with lag_mode="enforce" by exactly that version (lag =
max_lag after the first batches: deterministic, for experiments), with "bound" by the newest
version when a worker takes the chunk (lag <= max_lag, as timing allows). Chunks are handed to
workers as slots free up (at most `depth` in flight), so sampling runs continuously while the
learner trains on whatever batch is complete. max_lag = 0 with replay = 1 is the synchronous
loop, step for step (tested). `replay` K: update b trains on batches b-K+1..b (groups stay per
question; each episode keeps its own sampling log-probability).
OAPL's reference policy (`oapl_anchor`): "behaviour" regresses beta log(pi / mu) on r - V_mu
with mu the version that sampled the episode: its optimum pi ~ mu exp(A / beta) pulls the
learner back towards a version up to max_lag updates old. "learner" uses the learner's policy
at the start of the update as the reference (V still mu's). "learner-is" also corrects V(x)
and each episode's weight by the importance ratio pi_learner / mu truncated at `is_clip`
(`learner_is_args`). At lag 0 the three are the same objective. The default, "auto", is
learner-is where data can be stale (max_lag > 0 or replay > 1) and behaviour otherwise
(`TrainConfig.resolved`; a resumed run keeps the anchor it was started with).
Invariants: every finished chunk is written atomically to `spool/` (with the version that
sampled it) before the learner uses it, and a checkpoint holds the policy versions and replay
batches still needed, so a kill -9 of the learner loses no sampled episode: on resume, spooled
chunks are used as they were and only missing chunks are sampled again (with enforce: the same
versions, hence the same episodes and the same final state as an uninterrupted run). A killed
worker is replaced by the executor and its chunk rerun.
"""
from __future__ import annotations

import io
import json
import pickle
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..executors import Handle, wait_any
from ..policy import episode_logp
from ..policy.model import oapl_value
from ..tasks import Task
from .batch import pack
from .checkpoint import save_checkpoint
from .config import TrainConfig
from .evaluate import episode_stats, evaluate_agent, mean_stats
from .rollout import Job, Sampler, episode_seed
from .runfiles import atomic_write
from .trainer import (CURVE_FIELDS, METRIC_FIELDS, _append_csv, _curve_rows, loss_and_args,
                      schedule)

ASYNC_FIELDS = METRIC_FIELDS + ("lag_mean", "lag_max", "lags_used", "replay_batches",
                                "wait_seconds", "episodes_per_second")
CHUNK = 8
OAPL_ANCHORS = ("behaviour", "learner", "learner-is")
SPOOL = re.compile(r"b(\d+)-c(\d+)\.pkl")


def batch_jobs(cfg: TrainConfig, tasks: dict[str, list[Task]], b: int) -> list[Job]:
    """Batch b's episodes: exactly the synchronous loop's iteration b (questions, seeds)."""
    return [Job(t, episode_seed(cfg.seed, b, q, t.task_id, g), "policy", False,
                {"q": q, "g": g, "regime": t.regime})
            for q, t in enumerate(schedule(tasks, b, cfg)) for g in range(cfg.group_size)]


def check_config(cfg: TrainConfig) -> None:
    if cfg.max_lag < 0:
        raise ValueError(f"max_lag must be >= 0, not {cfg.max_lag}")
    if cfg.replay < 1:
        raise ValueError(f"replay must be >= 1 (batches per update), not {cfg.replay}")
    if cfg.lag_mode not in ("enforce", "bound"):
        raise ValueError(f"unknown lag_mode {cfg.lag_mode!r}; use 'enforce' or 'bound'")
    if cfg.oapl_anchor not in OAPL_ANCHORS + ("auto",):
        raise ValueError(f"unknown oapl_anchor {cfg.oapl_anchor!r}; use one of "
                         f"{', '.join(OAPL_ANCHORS + ('auto',))}")
    if cfg.is_clip <= 0:
        raise ValueError(f"is_clip must be > 0 (truncation of the importance ratio), not "
                         f"{cfg.is_clip}")


@dataclass
class _Batch:
    jobs: list[Job]
    chunks: dict[int, list[dict]] = field(default_factory=dict)  # chunk index -> results
    versions: dict[int, int] = field(default_factory=dict)  # chunk index -> sampling version

    @property
    def n_chunks(self) -> int:
        return (len(self.jobs) + CHUNK - 1) // CHUNK

    def complete(self) -> bool:
        return len(self.chunks) == self.n_chunks

    def results(self) -> list[dict]:
        out = []
        for c in range(self.n_chunks):
            out += [dict(r, version=self.versions[c]) for r in self.chunks[c]]
        return out


class _Spool:
    """Finished chunks on disk until a checkpoint covers their batch."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir / "spool"
        self.dir.mkdir(exist_ok=True)

    def write(self, b: int, c: int, version: int, results: list[dict]) -> None:
        atomic_write(self.dir / f"b{b:04d}-c{c:04d}.pkl",
                     pickle.dumps({"version": version, "results": results},
                                  protocol=pickle.HIGHEST_PROTOCOL))

    def load(self, start: int) -> dict[tuple[int, int], dict]:
        out = {}
        for tmp in self.dir.glob(".*.tmp"):  # a kill during a write left it
            tmp.unlink(missing_ok=True)
        for p in self.dir.iterdir():
            m = SPOOL.fullmatch(p.name)
            if not m or int(m.group(1)) < start:
                continue
            try:
                out[int(m.group(1)), int(m.group(2))] = pickle.loads(p.read_bytes())
            except Exception:  # written atomically, so only damage gets here: resample it
                p.unlink(missing_ok=True)
        return out

    def drop_before(self, b: int) -> None:
        for p in self.dir.iterdir():
            m = SPOOL.fullmatch(p.name)
            if m and int(m.group(1)) < b:
                p.unlink(missing_ok=True)


def train_loop(cfg: TrainConfig, run_dir: Path, params: dict, state: Any, opt: Any,
               start: int, metrics: list[dict], ckpt: dict | None,
               tasks: dict[str, list[Task]], curve_tasks: dict[str, list[Task]],
               sampler: Sampler, bar: Any = None) -> tuple[dict, Any]:
    """Run updates start..cfg.iterations-1; see the module docstring."""
    check_config(cfg)
    cfg = cfg.resolved()  # train_run has resolved it already (against a resumed run's config)
    L = cfg.max_lag
    versions: dict[int, dict] = dict((ckpt or {}).get("versions", {})) or {start: params}
    versions[start] = params
    replay: list[tuple[int, list[dict]]] = list((ckpt or {}).get("replay", []))
    spool = _Spool(run_dir)
    spooled = spool.load(start)
    batches: dict[int, _Batch] = {}
    pending: list[tuple[Handle, int, int, int]] = []  # handle, batch, chunk, version
    depth = max(2, 2 * sampler.workers)
    next_b, next_c = start, 0  # the next chunk to hand out
    cur = start  # the newest version = the next batch to consume
    t_start, episodes_done = time.perf_counter(), 0

    def batch(b: int) -> _Batch:
        if b not in batches:
            batches[b] = _Batch(batch_jobs(cfg, tasks, b))
        return batches[b]

    def sampling_version(b: int) -> int | None:
        """The version that samples batch b now, or None if none may yet."""
        if cfg.lag_mode == "enforce":
            v = max(0, b - L)
            return v if v <= cur else None
        return cur if cur >= b - L else None

    def dispatch() -> None:
        nonlocal next_b, next_c
        while len(pending) < depth and next_b < cfg.iterations:
            bt = batch(next_b)
            if next_c >= bt.n_chunks:
                next_b, next_c = next_b + 1, 0
                continue
            got = spooled.pop((next_b, next_c), None)
            if got is not None and (cfg.lag_mode == "bound" or
                                    got["version"] == max(0, next_b - L)):
                bt.chunks[next_c], bt.versions[next_c] = got["results"], got["version"]
                next_c += 1
                continue
            v = sampling_version(next_b)
            if v is None:
                return
            jobs = bt.jobs[next_c * CHUNK:(next_c + 1) * CHUNK]
            pending.append((sampler.submit(jobs, versions[v], chunk=CHUNK)[0], next_b,
                            next_c, v))
            next_c += 1

    def collect(block: bool) -> float:
        t = time.perf_counter()
        ready = wait_any([p[0] for p in pending], timeout=None if block else 0)
        for i in sorted(ready, reverse=True):
            h, b, c, v = pending.pop(i)
            res = h.result()
            spool.write(b, c, v, res)
            batches[b].chunks[c], batches[b].versions[c] = res, v
        return time.perf_counter() - t

    while cur < cfg.iterations:
        dispatch()
        wait = 0.0
        while not batch(cur).complete():
            if not pending:  # cannot happen: batch `cur` may always be sampled
                raise RuntimeError(f"batch {cur} is incomplete and nothing is in flight")
            wait += collect(block=True)
            dispatch()
        bt = batches.pop(cur)
        results = bt.results()
        replay = (replay + [(cur, results)])[-cfg.replay:]
        t1 = time.perf_counter()
        params, state, row, lines = _update(cfg, cur, params, state, opt, replay)
        t2 = time.perf_counter()
        episodes_done += len(results)
        row.update(wait_seconds=round(wait, 3), update_seconds=round(t2 - t1, 3),
                   iteration_seconds=round(t2 - t1 + wait, 3),
                   episodes_per_second=round(episodes_done / (t2 - t_start), 3))
        with open(run_dir / "rollouts.jsonl", "a") as f:
            f.writelines(lines)
        by_regime: dict[str, list[dict]] = {}
        for r in results:
            by_regime.setdefault(r["tag"]["regime"], []).append(episode_stats(r["record"]))
        _append_csv(run_dir / "curves.csv", CURVE_FIELDS, _curve_rows(
            cur + 1, "train", {k: mean_stats(v) for k, v in by_regime.items()}))
        cur += 1
        versions[cur] = params
        # versions a later batch may still be sampled with (enforce: exactly cur+1-L onwards)
        for v in [v for v in versions if v < cur - L]:
            del versions[v]
        dispatch()  # hand the new version out before evaluating and checkpointing
        collect(block=False)
        if cfg.curve_per_regime:
            ev = evaluate_agent(sampler, curve_tasks, "policy", params, seed=cfg.seed)
            _append_csv(run_dir / "curves.csv", CURVE_FIELDS,
                        _curve_rows(cur, "eval", ev["per_regime"]))
        metrics.append(row)
        _append_csv(run_dir / "metrics.csv", ASYNC_FIELDS, [row])
        save_checkpoint(run_dir, cur, {"params": params, "opt_state": state,
                                       "metrics": metrics, "config": cfg.to_json(),
                                       "versions": dict(versions),
                                       "replay": replay[-(cfg.replay - 1):]
                                       if cfg.replay > 1 else []})
        spool.drop_before(cur)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(reward=f"{row['reward']:.3f}", lag=f"{row['lag_mean']:.1f}",
                            eps=f"{row['episodes_per_second']:.1f}")
    for h, *_ in pending:  # nothing is left once every batch is consumed; be safe
        h.result()
    return params, state


def _update(cfg: TrainConfig, b: int, params: dict, state: Any, opt: Any,
            replay: list[tuple[int, list[dict]]]) -> tuple[dict, Any, dict, list[str]]:
    """One update on the replay window (its last entry is batch b); returns the metrics row
    and batch b's rollouts.jsonl lines."""
    results = [r for _, rs in replay for r in rs]
    group_of = [bb * cfg.questions_per_iter + r["tag"]["q"] for bb, rs in replay for r in rs]
    rewards = np.array([r["record"]["score"] - cfg.tool_cost * r["record"]["cost"]["tool_calls"]
                        for r in results])
    batch = pack(results, rewards, group_of)
    loss_fn, args = loss_and_args(cfg, batch)
    is_weight = None   # learner-is: how stale the data is, the mean truncated ratio
    if cfg.algo == "oapl" and cfg.oapl_anchor != "behaviour":
        # the reference in log(pi / pi_ref) is the learner's policy as this update starts,
        # not the (up to max_lag versions older) behaviour policy: the squared loss is
        # minimised by pi ~ pi_ref exp(A / beta), so a stale anchor would pull the policy back
        ref = episode_logp(params, batch.X, batch.neg, batch.onehot, batch.seg, batch.n_dec,
                           batch.n_cand)
        if cfg.oapl_anchor == "learner":
            args = args[:4] + (ref,) + args[5:]
        else:
            loss_fn, args = oapl_is_loss, learner_is_args(batch, ref, cfg.beta, cfg.beta1,
                                                          cfg.is_clip, cfg.is_normalize)
            is_weight = float(np.mean(np.minimum(np.exp(ref - batch.logp_lag), cfg.is_clip)))
    losses = []
    for _ in range(cfg.grad_steps):
        loss, params, state = opt.step(loss_fn, params, state, *args)
        losses.append(loss)
    new = replay[-1][1]
    new_rewards = rewards[len(results) - len(new):]
    lines = [json.dumps(dict(r["record"], iteration=b + 1, reward=float(rew),
                             logp=float(sum(r["logp"])), version=r["version"],
                             lag=b - r["version"], **r["tag"]), default=str) + "\n"
             for r, rew in zip(new, new_rewards)]
    lags = np.array([b - r["version"] for r in new])
    used = [max(b - r["version"] for r in rs) for _, rs in replay]
    alpha = opt.hyperparameters(state)[0]["alpha"]
    row = {"iteration": b + 1, "episodes": len(new), "decisions": batch.n_dec,
           "reward": float(new_rewards.mean()),
           "score": float(np.mean([r["record"]["score"] for r in new])),
           "tool_calls": float(np.mean([r["record"]["cost"]["tool_calls"] for r in new])),
           "loss_first": losses[0] if losses else 0.0, "loss_last": losses[-1] if losses else 0.0,
           "alpha": float(np.mean(alpha)), "sample_seconds": 0.0,
           "lag_mean": float(lags.mean()), "lag_max": int(lags.max()),
           "lags_used": " ".join(map(str, used)), "replay_batches": len(replay)}
    if is_weight is not None:  # in the checkpoint's metrics (not a metrics.csv column)
        row["is_weight_mean"] = is_weight
    return params, state, row, lines


def learner_is_args(batch: Any, logp_ref: np.ndarray, beta: float, beta1: float,
                    clip: float, normalize: bool = False) -> tuple:
    """`oapl_is_loss`'s arguments: OAPL with the learner's current policy pi_ref as the
    reference, corrected for data sampled by an older behaviour policy mu.

    The regression target beta log(pi / pi_ref) = r - V_ref(x) needs V_ref = beta1 log
    E_{y ~ pi_ref} exp(r / beta1), the value of the *reference* policy; the samples come from
    mu, so each episode gets the importance ratio rho = pi_ref(y|x) / mu(y|x), truncated at
    `clip` (V-trace's rho-bar: a few episodes the learner now likes much more than mu did
    cannot dominate), and V_ref is the self-normalised weighted log-mean-exp over the
    question's group. The same truncated ratios weight each episode's squared error, so the
    fit is (up to truncation) the one on-policy data from pi_ref would give, and an episode
    the learner has moved away from counts less. At lag 0 pi_ref = mu: every ratio is 1 and
    this is the behaviour-anchored loss (up to rounding). `normalize` rescales the loss
    weights to mean 1 over the update's episodes (V(x) is unchanged: it is self-normalised),
    so a stale batch moves the policy as far as a fresh one; without it a batch the learner
    has moved away from has a smaller gradient.
    """
    log_rho = (logp_ref - batch.logp_lag)[:, 0]
    w = np.exp(np.minimum(log_rho, np.log(clip)))
    target = np.zeros((len(batch.rewards), 1))
    for g in batch.groups:
        target[g, 0] = batch.rewards[g] - weighted_value(batch.rewards[g], w[g], beta1)
    lw = w / np.mean(w) if normalize and np.mean(w) > 0 else w
    return (batch.X, batch.neg, batch.onehot, batch.seg, logp_ref, target, lw[:, None],
            float(beta), batch.n_dec, batch.n_cand)


def weighted_value(rewards: np.ndarray, w: np.ndarray, beta1: float) -> float:
    """beta1 log(sum_i w_i exp(r_i / beta1) / sum_i w_i), stably (`oapl_value` for equal w)."""
    if not np.sum(w) > 0:
        return oapl_value(rewards, beta1)
    z = np.asarray(rewards, dtype=np.float64) / beta1
    m = z.max()
    return float(beta1 * (m + np.log(np.sum(w * np.exp(z - m)) / np.sum(w))))


def oapl_is_loss(params, X, neg, onehot, seg, logp_ref, target, weight, beta, n_dec, n_cand):
    """mean_i w_i (beta log(pi(y_i|x) / pi_ref(y_i|x)) - target_i)^2 (see `learner_is_args`)."""
    lp = episode_logp(params, X, neg, onehot, seg, n_dec, n_cand)
    d = beta * (lp - logp_ref) - target
    return np.sum(weight * d * d) / lp.shape[0]


def save_policy(run_dir: Path, params: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, **params)
    atomic_write(run_dir / "policy.npz", buf.getvalue())
