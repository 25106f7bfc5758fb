"""A tiny run of benchmarks/hyperopt_sensitivity.py: it runs, writes its files, and shows the
small-step effect (a tower learns its step size where plain SGD barely moves)."""
from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hyperopt_sensitivity",
                                                  ROOT / "benchmarks" / "hyperopt_sensitivity.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_sensitivity_run(tmp_path: Path) -> None:
    bench = _bench()
    code = bench.main(["--quick", "--epochs", "2", "--steps", "1e-4", "--heights", "1", "2",
                       "--overhead-heights", "0", "1", "3", "--out", str(tmp_path)])
    assert code == 0
    for name in ("sensitivity_quick.csv", "overhead_quick.csv", "sensitivity_quick.png",
                 "summary_quick.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(tmp_path / "sensitivity_quick.csv")))
    assert len(rows) == 2 * 2 + 3  # (reference, ours) x (SGD, SGD/SGD) + three Adam towers
    err = {(r["variant"], r["name"]): float(r["test_error"]) for r in rows}
    assert all(0.0 <= e <= 1.0 for e in err.values())
    for variant in ("reference", "ours"):  # the tower learns alpha; plain SGD at 1e-4 cannot
        assert err[(variant, "SGD/SGD")] < err[(variant, "SGD")] - 0.03
    # small steps: our parametrisation behaves like the paper's unconstrained one
    assert abs(err[("ours", "SGD/SGD")] - err[("reference", "SGD/SGD")]) < 0.03
    assert err[("ours", "SGD")] == err[("reference", "SGD")]  # height 1: same plain SGD
    heights = [int(r["height"]) for r in csv.DictReader(open(tmp_path / "overhead_quick.csv"))]
    assert heights == [0, 1, 3]


@pytest.mark.slow   # a short benchmark run on both backends: ~5 CPU-seconds
def test_numpy_backend_run_matches_torch_backend(value_and_grad: Callable) -> None:
    """The experiment's two backends train the same model along the same trajectory."""
    bench = _bench()
    run = bench.Run("ours", "SGD/SGD", 1e-2, 0)
    a = bench.train_torch(run, epochs=1, batch=64)
    b = bench.train_numpy(run, epochs=1, batch=64, value_and_grad=value_and_grad)
    assert a["test_error"] == b["test_error"]
    assert a["final_alpha"] == pytest.approx(b["final_alpha"], rel=1e-6)
    assert a["last_loss"] == pytest.approx(b["last_loss"], rel=1e-6)
    assert a["final_alpha"] != 1e-2


def test_reference_rows_are_update_paper() -> None:
    """The benchmark's hand-written reference tower (the paper's SGD^k, closed form) and
    hyperopt's update="paper" take the same steps, so its "reference" rows are that rule."""
    import torch
    import hyperopt
    import hyperopt.torch as ht
    bench = _bench()
    xtr, _, ytr, _ = bench.load_digits_split()
    x, y = torch.from_numpy(xtr[:64]), torch.from_numpy(ytr[:64])
    ref_model, ours_model = bench.make_model(0), bench.make_model(0)
    ref = bench.ReferenceSGDTower(list(ref_model.parameters()), 0.05, 3)
    spec = None
    for _ in range(3):
        spec = hyperopt.SGD(0.05, optimizer=spec, update="paper",
                            learn=["alpha"] if spec is not None else None)
    ours = ht.from_spec(ours_model.parameters(), spec)
    for t in range(12):
        xb, yb = x[(t * 16) % 64:][:16], y[(t * 16) % 64:][:16]
        for model, opt in ((ref_model, ref), (ours_model, ours)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    for a, b in zip(ref_model.parameters(), ours_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert ours.hyperparameters()[0]["alpha"] == pytest.approx(ref.alpha[0], rel=1e-9)
    assert ours.hyperparameters()[1]["alpha"] == pytest.approx(ref.alpha[1], rel=1e-9)
    assert ref.alpha[1] != 0.05  # the middle level moved: the comparison covers it
