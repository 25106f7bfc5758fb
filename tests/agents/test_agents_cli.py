"""The command line: world, eval and synth run directories, and the module entry point."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agents.run import main
from agents.tasks import REGIME_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_world_then_eval_reusing_it(tmp_path, capsys):
    wdir = tmp_path / "world"
    main(["world", "--out", str(wdir), "--seed", "0", "--scale", "2000"])
    meta = json.loads((wdir / "world.json").read_text())
    assert meta["docs"] == 2000 and meta["index_seconds"] > 0
    assert (wdir / "index" / "docs.jsonl").exists()
    edir = tmp_path / "eval"
    main(["eval", "--out", str(edir), "--world", str(wdir), "--n", "3",
          "--agents", "oracle", "heuristic"])
    out = capsys.readouterr().out
    assert "BM25 recall@10" in out
    report = json.loads((edir / "eval.json").read_text())
    for agent in ("oracle", "heuristic"):
        for r in REGIME_NAMES:
            row = report["results"][agent][r]
            assert row["n"] == 3 and set(row) >= {"score", "tool_calls", "tokens", "latency_s",
                                                  "ci95"}
            lo, hi = row["ci95"]
            assert lo <= row["score"] <= hi
        assert report["results"][agent]["all"]["n"] == 18
        assert "ci95_regime_mean" in report["results"][agent]["all"]
    d = report["results"]["oracle"]["all"]["vs_heuristic"]
    assert d["lo"] <= d["diff"] <= d["hi"] and d["n"] == 18
    assert all(report["results"]["oracle"][r]["score"] == 1.0 for r in REGIME_NAMES)
    assert set(report["bm25_recall_at_10"]) == set(REGIME_NAMES)
    episodes = [json.loads(x) for x in (edir / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 36 and {e["agent"] for e in episodes} == {"oracle", "heuristic"}
    rows = list(csv.DictReader(open(edir / "eval.csv")))
    assert len(rows) == 12 and set(rows[0]) == {"agent", "regime", "n", "score", "tool_calls",
                                                "tokens", "latency_s", "ci_lo", "ci_hi"}


def test_synth_run_directory(tmp_path):
    out = tmp_path / "synth"
    main(["synth", "--out", str(out), "--rounds", "1", "--per-round", "24", "--rollouts", "3",
          "--eval-n", "20"])
    summary = json.loads((out / "synth.json").read_text())
    assert summary["rounds"][0]["generated"] == 24
    assert 0.0 <= summary["audit"]["rate"] <= 1.0
    kept = [json.loads(x) for x in (out / "synth.jsonl").read_text().splitlines()]
    assert len(kept) == summary["kept"] == summary["rounds"][0]["kept"]
    for k in kept:
        assert {"round", "evidence", "claim", "pass_rate", "rollout_scores", "solver"} <= \
            set(k["meta"]["synth"])
    assert (out / "dropped.jsonl").exists() and (out / "index" / "index.json").exists()


@pytest.mark.slow
def test_module_entry_point_and_measure(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "agents.run", "world", "--out",
                           str(tmp_path / "m"), "--measure", "600"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "m" / "measure.json").read_text())
    assert rows[0]["docs"] >= 600 and rows[0]["peak_rss_mb"] > 0
    bad = subprocess.run([sys.executable, "-m", "agents.run", "eval", "--out",
                          str(tmp_path / "x"), "--agents", "nobody"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_every_subcommand_and_option_has_help_and_its_default(monkeypatch):
    """`python -m agents.run SUB --help` explains every option and shows its default (a
    `--no-x` switch says it in words: argparse would print the stored True)."""
    import argparse

    monkeypatch.setenv("COLUMNS", "100000")   # one line per option: no hyphenated wraps
    from agents.run import parser

    top = parser()
    subs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest for c in subs._choices_actions} == set(subs.choices)
    assert all(c.help for c in subs._choices_actions)
    for name, sub in subs.choices.items():
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings}: no help"
            if isinstance(action, argparse._StoreFalseAction):
                assert "(default: " in action.help, (name, action.help)
                assert "(default: True)" not in text
            elif action.option_strings:
                assert f"{' '.join(action.help.split())} (default:" in text, \
                    f"{name} {action.option_strings}: its default is not shown"
