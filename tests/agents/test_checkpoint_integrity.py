"""Checkpoints and run files: atomic writes, checksums verified on resume, fallback to the
previous checkpoint when the newest is damaged, and clear errors for a damaged config.json."""
from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.rl import Sampler, TrainConfig, prepare, train_run
from agents.rl.checkpoint import (CorruptCheckpoint, load_latest, read_checkpoint,
                                  save_checkpoint)
from agents.rl.runfiles import RunFileError, atomic_write, read_json, write_json


def payload(i: int) -> dict:
    return {"params": {"w": np.arange(6.0) * i}, "opt_state": [i, {"m": np.ones(3)}],
            "metrics": [{"loss": 0.5 * i}], "config": {"seed": 0}}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / "rollouts.jsonl").write_text('{"i": 1}\n' * 50)
    for i in (1, 2, 3):
        save_checkpoint(tmp_path, i, payload(i))
    return tmp_path


def damage(path: Path, at: int, mask: int = 0xFF) -> None:
    raw = bytearray(path.read_bytes())
    raw[at % len(raw)] ^= mask
    path.write_bytes(bytes(raw))


def test_round_trip_and_atomic_write_leaves_no_temporaries(run_dir):
    ck = read_checkpoint(run_dir / "ckpt" / "iter-0003.pkl")
    assert ck["iteration"] == 3 and np.array_equal(ck["params"]["w"], np.arange(6.0) * 3)
    assert ck["offsets"]["rollouts.jsonl"] == 50 * 9
    assert sorted(p.name for p in (run_dir / "ckpt").iterdir()) == [
        "iter-0001.pkl", "iter-0002.pkl", "iter-0003.pkl"]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 255))
def test_any_flipped_byte_is_detected(tmp_path_factory, at, mask):
    d = tmp_path_factory.mktemp("flip")
    path = save_checkpoint(d, 1, payload(1))
    damage(path, at, mask)
    with pytest.raises(CorruptCheckpoint):
        read_checkpoint(path)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6))
def test_any_truncation_is_detected(tmp_path_factory, keep):
    d = tmp_path_factory.mktemp("cut")
    path = save_checkpoint(d, 1, payload(1))
    raw = path.read_bytes()
    path.write_bytes(raw[:keep % len(raw)])
    with pytest.raises(CorruptCheckpoint):
        read_checkpoint(path)


def test_a_corrupt_newest_checkpoint_falls_back_with_a_warning(run_dir):
    for at in (-3, -40, -200, -700):  # four flipped bytes in the payload
        damage(run_dir / "ckpt" / "iter-0003.pkl", at)
    with pytest.warns(RuntimeWarning, match="iter-0003.pkl.*sha256"):
        ck = load_latest(run_dir)
    assert ck["iteration"] == 2
    (run_dir / "ckpt" / "iter-0002.pkl").write_bytes(b"")  # and a truncated one before it
    with pytest.warns(RuntimeWarning) as record:
        assert load_latest(run_dir)["iteration"] == 1
    assert len(record) == 2


def test_no_usable_checkpoint_is_an_error_not_a_fresh_start(run_dir):
    for i in (1, 2, 3):
        damage(run_dir / "ckpt" / f"iter-{i:04d}.pkl", -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CorruptCheckpoint, match="no usable checkpoint"):
            load_latest(run_dir)


def test_a_copied_checkpoint_and_a_shortened_log_are_refused(run_dir):
    shutil.copy(run_dir / "ckpt" / "iter-0002.pkl", run_dir / "ckpt" / "iter-0004.pkl")
    with pytest.warns(RuntimeWarning, match="not this file's iteration"):
        assert load_latest(run_dir)["iteration"] == 3
    (run_dir / "ckpt" / "iter-0004.pkl").unlink()
    with open(run_dir / "rollouts.jsonl", "a") as f:
        f.write('{"i": 4}\n' * 50)
    save_checkpoint(run_dir, 4, payload(4))
    with open(run_dir / "rollouts.jsonl", "r+b") as f:  # some lines before ckpt 4 lost
        f.truncate(600)
    with pytest.warns(RuntimeWarning, match="rollouts.jsonl holds 600 bytes, fewer than "
                                            "the 900"):
        assert load_latest(run_dir)["iteration"] == 3


def test_a_write_killed_before_its_rename_leaves_a_temporary_that_resume_removes(run_dir):
    stray = run_dir / "ckpt" / ".iter-0004.pkl.k1ll3d.tmp"
    stray.write_bytes(b"agents-ckpt/1 sha256=")  # what a kill -9 mid-write leaves
    assert load_latest(run_dir)["iteration"] == 3 and not stray.exists()


def test_checkpoints_are_ordered_by_number_not_by_name(tmp_path):
    save_checkpoint(tmp_path, 9999, payload(1))
    save_checkpoint(tmp_path, 10000, payload(2))
    assert load_latest(tmp_path)["iteration"] == 10000


def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    write_json(target, {"a": 1})
    before = target.read_bytes()

    def killed(fd):
        raise KeyboardInterrupt  # stands for a signal arriving mid-write

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b'{"a": 2, "much": "longer"}')
    monkeypatch.undo()
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["config.json"]


# -- config.json ----------------------------------------------------------------------------
@pytest.fixture
def saved_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    TrainConfig(run_dir=str(tmp_path), seed=3).save(path)
    return path


def test_config_round_trip_and_formatting_does_not_matter(saved_config):
    cfg = TrainConfig.load(saved_config)
    assert cfg.seed == 3 and cfg.run_dir == str(saved_config.parent)
    d = json.loads(saved_config.read_text())
    saved_config.write_text(json.dumps(dict(reversed(list(d.items())))))  # reordered, 1 line
    assert TrainConfig.load(saved_config) == cfg


@pytest.mark.parametrize("how,message", [
    ("truncate", "not valid JSON"), ("edit", "does not match"), ("empty", "not valid JSON"),
    ("list", "not an object"), ("no-checksum", "no 'sha256' checksum"),
    ("binary", "not valid JSON"), ("missing", "missing")])
def test_a_damaged_config_is_a_clear_error_naming_the_file(saved_config, how, message):
    text = saved_config.read_text()
    d = json.loads(text)
    if how == "truncate":
        saved_config.write_text(text[:len(text) // 2])
    elif how == "edit":
        saved_config.write_text(text.replace('"seed": 3', '"seed": 8'))
    elif how == "empty":
        saved_config.write_text("")
    elif how == "list":
        saved_config.write_text("[]")
    elif how == "no-checksum":
        saved_config.write_text(json.dumps({k: v for k, v in d.items() if k != "sha256"}))
    elif how == "binary":
        saved_config.write_bytes(b"\xff\xfe\x00garbage")
    else:
        saved_config.unlink()
    with pytest.raises(RunFileError, match=message) as e:
        read_json(saved_config)
    assert str(saved_config) in str(e.value)


def test_resume_with_a_truncated_config_names_the_file(saved_config):
    saved_config.write_text(saved_config.read_text()[:40])
    cfg = TrainConfig(run_dir=str(saved_config.parent), seed=3)
    with pytest.raises(RunFileError, match="config.json is corrupt") as e:
        train_run(cfg, resume=True)
    assert str(saved_config) in str(e.value)


def test_resume_without_config_but_with_checkpoints_is_refused(tmp_path):
    save_checkpoint(tmp_path, 1, payload(1))
    with pytest.raises(RunFileError, match="config.json is missing"):
        train_run(TrainConfig(run_dir=str(tmp_path)), resume=True)


# -- a real run ---------------------------------------------------------------------------
@pytest.mark.slow
def test_resume_from_the_checkpoint_before_a_corrupt_one_is_exact(tmp_path):
    data = prepare(tmp_path / "data", scale=500, eval_per_regime=2, synth_per_round=60,
                   synth_rounds=1)
    common = dict(data_dir=str(tmp_path / "data"), scale=500, iterations=3,
                  questions_per_iter=4, group_size=2, grad_steps=2, eval_per_regime=2,
                  curve_per_regime=1, synth_per_round=60, synth_rounds=1, progress=False,
                  workers=1)
    with Sampler(str(data.index_dir), 12, 1) as sampler:
        ref = train_run(TrainConfig(run_dir=str(tmp_path / "ref"), **common), data=data,
                        sampler=sampler)
        shutil.copytree(tmp_path / "ref", tmp_path / "hit")
        for at in (-5, -50, -300, -900):
            damage(tmp_path / "hit" / "ckpt" / "iter-0003.pkl", at)
        cfg = TrainConfig(run_dir=str(tmp_path / "hit"), **common)
        with pytest.warns(RuntimeWarning, match="iter-0003.pkl"):
            resumed = train_run(cfg, resume=True, data=data, sampler=sampler)
    for k in ref.params:
        assert np.array_equal(ref.params[k], resumed.params[k]), k
    assert [m["loss_last"] for m in ref.metrics] == [m["loss_last"] for m in resumed.metrics]
    for name in ("rollouts.jsonl", "metrics.csv"):
        a = (tmp_path / "ref" / name).read_text().splitlines()
        b = (tmp_path / "hit" / name).read_text().splitlines()
        assert len(a) == len(b) and [_strip(x) for x in a] == [_strip(x) for x in b], name
    read_checkpoint(tmp_path / "hit" / "ckpt" / "iter-0003.pkl")  # rewritten, valid again


def _strip(line: str) -> str:
    """A log line without its wall-clock fields."""
    if line.startswith("{"):
        d = json.loads(line)
        d["cost"].pop("wall_seconds")
        d["cost"].pop("tool_seconds")
        return json.dumps(d, sort_keys=True)
    return ",".join(line.split(",")[:9])
