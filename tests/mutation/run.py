"""Mutation check: plant known bugs one at a time and require the tests to notice each.

    python tests/mutation/run.py               # every mutant, on a copy of the committed tree
    python tests/mutation/run.py --list        # the mutants and the tests each one runs
    python tests/mutation/run.py --only cuda-grid,rules-mean
    python tests/mutation/run.py --working-tree    # copy the working tree instead of HEAD

Each mutant replaces one exact snippet of one file (a sign flip in a derivative rule, a
dropped transpose, a tie given to the wrong element, an unclamped trip count, a lenient
grader ...). The script copies the repository to a temporary directory (never touching the
checkout it runs from), checks that the chosen tests pass there unmutated, then for each
mutant: applies it, runs its tests (`pytest -x`, fresh coarsen and Numba caches so no
compiled program of the unmutated code is reused), restores the file. A mutant is *killed*
when its tests fail, *survived* when they pass, *stale* when its snippet is no longer in the
file (the code moved: update the mutant). It prints the kill rate and exits non-zero unless
every mutant was killed. Not part of the default suite (pytest collects test_*.py only).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str


EVERY = "tests/coarsen/test_every_target.py"
NUMPY = (EVERY, "-k", "numpy or negative")
CPU = (EVERY, "-k", "cpu and not cuda")
CUDA = (EVERY, "-k", "cuda")
PHICALC = ("tests/phicalc",)
NUMPY_PHICALC = (EVERY, "tests/phicalc", "-k", "numpy or negative or phicalc")   # -k covers both
# the generated-program properties run on the numpy target with COARSEN_AD_EXAMPLES programs
AD = (EVERY, "tests/coarsen/test_grad_properties.py", "-k", "numpy or negative or agrees")
HYPER = ("tests/hyperopt/test_hyperopt_rules.py", "tests/hyperopt/test_hyperopt_hypergradients.py")
# the torch fast step (hyperopt/fast.py) against the generic engine, and the paper's update rule
# against an independent implementation of its equations
HYPER_ALL = (*HYPER, "tests/hyperopt/test_hyperopt_fast.py", "tests/hyperopt/test_hyperopt_paper.py")
GRADERS = ("tests/agents/test_agents_graders.py", "tests/agents/test_agents_normalize.py",
           "tests/agents/test_agents_tasks.py")
OAPL = ("tests/agents/test_loss_arguments.py", "tests/agents/test_policy.py", "-k",
        "oapl or loss or grpo")

MUTANTS = [
    # -- closed forms (coarsen/passes/closed_forms.py)
    Mutant("closed-forms-clamp", "coarsen/passes/closed_forms.py",
           "n = emit(Op.MAXIMUM, (span, const(0)))", "n = span", NUMPY,
           "trip count not clamped at 0: accumulate(1, 2, -2) gave -3"),
    Mutant("closed-forms-span", "coarsen/passes/closed_forms.py",
           "(stop, start) if step > 0 else (start, stop)", "(stop, start)", NUMPY,
           "a reversed range's span taken the wrong way round"),
    Mutant("closed-forms-ceil", "coarsen/passes/closed_forms.py",
           "emit(Op.ADD, (span, const(k - 1)))", "emit(Op.ADD, (span, const(0)))", NUMPY,
           "a stepped range's trip count rounded down, not up"),
    # -- the cpu target's runtime (kernels/numba_runtime.py)
    Mutant("numba-mask-all-break", "kernels/numba_runtime.py",
           "            if flat[i] == r:\n                out[i] = 1.0\n                break\n",
           "            if flat[i] == r:\n                out[i] = 1.0\n", CPU,
           "a tied maximum's derivative split over every maximal element"),
    Mutant("numba-mask-axis0-break", "kernels/numba_runtime.py",
           "                        if x[i, j] == r_keep[0, j]:\n                            mask[i, j] = 1.0\n"
           "                            break\n",
           "                        if x[i, j] == r_keep[0, j]:\n                            mask[i, j] = 1.0\n", CPU,
           "a tied column maximum's derivative split"),
    Mutant("numba-trip-count", "kernels/numba_runtime.py",
           "        return max(0, (start - stop - step - 1) // (-step))",
           "        return (start - stop - step - 1) // (-step)", CPU,
           "a reversed range's trip count not clamped on the cpu target"),
    # -- the numpy target's runtime (kernels/runtime.py)
    Mutant("numpy-mask-last", "kernels/runtime.py",
           "mask.flat[int(np.argmax(x.ravel() == r))] = 1.0",
           "mask.flat[x.size - 1 - int(np.argmax(x.ravel()[::-1] == r))] = 1.0", NUMPY,
           "a tie goes to the last maximal element"),
    Mutant("numpy-unbroadcast", "kernels/runtime.py",
           "axes = tuple(i for i, n in enumerate(shape) if n == 1 and x.shape[i] != 1)",
           "axes = ()", AD,
           "a broadcast length-1 axis not summed back"),
    Mutant("numpy-trip-count", "kernels/runtime.py",
           "    return max(0, (start - stop - step - 1) // (-step))",
           "    return (start - stop - step - 1) // (-step)", NUMPY,
           "a reversed loop replayed though it never ran"),
    # -- the cuda target
    Mutant("cuda-grid", "kernels/cuda.py",
           "kernel[max(1, (n + threads - 1) // threads), threads]",
           "kernel[max(1, n // threads), threads]", CUDA,
           "a grid of n // threads blocks: elements past the last full block never computed"),
    Mutant("cuda-vmap-grid", "coarsen/vmap.py",
           "blocks = (n + threads - 1) // threads", "blocks = max(1, n // threads)", CUDA,
           "vmap on cuda: lanes past the last full block never run"),
    # -- phi-calculus rules (phicalc/terms.py, phicalc/diff.py)
    Mutant("phicalc-max-tie", "phicalc/terms.py",
           "return relation(sp.GreaterThan, self.args[0], self.args[1])",
           "return relation(sp.StrictGreaterThan, self.args[0], self.args[1])", NUMPY_PHICALC,
           "maximum's tie given to the second argument"),
    Mutant("phicalc-min-tie", "phicalc/terms.py",
           "return relation(sp.LessThan, self.args[0], self.args[1])",
           "return relation(sp.StrictLessThan, self.args[0], self.args[1])", NUMPY_PHICALC,
           "minimum's tie given to the second argument"),
    Mutant("phicalc-clip-bound", "phicalc/terms.py",
           "Phi(relation(sp.StrictLessThan, x, lo), below, inside)",
           "Phi(relation(sp.LessThan, x, lo), below, inside)", NUMPY_PHICALC,
           "clip at its lower bound passes the derivative to the bound"),
    Mutant("phicalc-sign", "phicalc/terms.py",
           "    def fdiff(self, argindex: int = 1) -> sp.Expr:\n        return S.Zero\n",
           "    def fdiff(self, argindex: int = 1) -> sp.Expr:\n        return S.One\n", NUMPY_PHICALC,
           "sign has a derivative"),
    Mutant("phicalc-sigmoid", "phicalc/terms.py",
           "return Sigmoid(x) * Sigmoid(-x)", "return Sigmoid(x) * Sigmoid(x)", PHICALC,
           "sigmoid's derivative"),
    Mutant("phicalc-softplus", "phicalc/terms.py",
           "        return Sigmoid(self.args[0])\n", "        return Sigmoid(-self.args[0])\n", PHICALC,
           "softplus's derivative"),
    Mutant("phicalc-geom", "phicalc/terms.py",
           "return Geom(a, n, m + 1)", "return Geom(a, n, m)", PHICALC,
           "the geometric sum's derivative"),
    Mutant("phicalc-pow", "phicalc/diff.py",
           "d_base = ex * base ** (ex - 1)", "d_base = ex * base ** ex", PHICALC,
           "power rule off by one"),
    Mutant("phicalc-mul", "phicalc/diff.py",
           "sp.Mul(*args[:i], *args[i + 1:])", "sp.Mul(*args[:i], *args[i:])", PHICALC,
           "product rule keeps the factor it differentiates"),
    Mutant("phicalc-abs", "phicalc/diff.py",
           "    return (Sign(e.args[0]),)", "    return (sp.Integer(1),)", NUMPY_PHICALC,
           "abs differentiated as the identity"),
    # -- reverse-mode rules of non-segment ops (coarsen/ops/*: the op registry's VJPs;
    #    coarsen/autodiff/rules.py: the IR's own ops, element reads and writes)
    Mutant("rules-mean", "coarsen/ops/reductions.py",
           'f"{rev.d(r)} / {n}"', 'f"{rev.d(r)} * {n}"', AD,
           "mean's adjoint multiplied by the count"),
    Mutant("rules-matmul-transpose", "coarsen/ops/linalg.py",
           '(2, 2): f"rt.matmul({d}, {bb}.T)"', '(2, 2): f"rt.matmul({d}, {bb})"', AD,
           "a dropped transpose in matmul's adjoint"),
    Mutant("rules-transpose", "coarsen/ops/shape.py",
           'rev.accum(instr.args[0], f"{rev.d(instr.result)}.T", code,',
           'rev.accum(instr.args[0], rev.d(instr.result), code,', AD,
           ".T's adjoint not transposed"),
    Mutant("rules-axis", "coarsen/ops/reductions.py",
           'f"rt.expand_axis({d}, {shape}, {axis})"', 'f"rt.expand_axis({d}, {shape}, 0)"', AD,
           "a reduction's adjoint expanded along the wrong axis"),
    Mutant("rules-mod", "coarsen/ops/binary.py",
           'f"-np.floor({rev.ref(a)} / {rev.ref(b)}) * {d}"', 'f"np.floor({rev.ref(a)} / {rev.ref(b)}) * {d}"',
           AD, "sign flip in a % b's derivative w.r.t. b"),
    Mutant("rules-getitem", "coarsen/autodiff/rules.py",
           '[{_index(rev, instr, idx)}] += {rev.d(instr.result)}', '[{_index(rev, instr, idx)}] = {rev.d(instr.result)}',
           AD, "repeated reads of one element not accumulated"),
    Mutant("rules-setitem", "coarsen/autodiff/rules.py",
           'code.line(f"{d}[{where}] = 0.0")', 'pass', AD,
           "an overwritten element keeps its adjoint"),
    Mutant("rules-prod", "coarsen/ops/reductions.py",
           "* rt.prod_others(", "* 0.5 * rt.prod_others(", AD,
           "prod's adjoint scaled"),
    # -- reverse mode's loop replay (coarsen/autodiff/reverse.py)
    Mutant("reverse-replay", "coarsen/autodiff/reverse.py",
           "range(rt.trip_count({start}, {stop}, {step}) - 1, -1, -1)",
           "range(rt.trip_count({start}, {stop}, {step}) - 1, 0, -1)", AD,
           "the first iteration of a loop not replayed"),
    Mutant("reverse-index", "coarsen/autodiff/reverse.py",
           '= {start} + _k * {step}"', '= {start} + (_k + 1) * {step}"', AD,
           "a replayed iteration sees the next index"),
    # -- hypergradients (hyperopt/rules.py)
    Mutant("hyper-sgd-alpha", "hyperopt/rules.py",
           '({"alpha": -g} if "alpha" in want else {})', '({"alpha": g} if "alpha" in want else {})', HYPER,
           "hypergradient sign of SGD's step size"),
    Mutant("hyper-sgd-mu", "hyperopt/rules.py",
           "else -alpha * b_prev", "else alpha * b_prev", HYPER, "hypergradient sign of momentum"),
    Mutant("hyper-adam-beta1", "hyperopt/rules.py",
           "dm_hat = (m_prev - g) / c1 + m * p1_prev / (c1 * c1)",
           "dm_hat = (m_prev - g) / c1 - m * p1_prev / (c1 * c1)", HYPER, "Adam's beta1 hypergradient"),
    Mutant("hyper-rmsprop-gamma", "hyperopt/rules.py",
           "denom * (v_prev - g2) * 0.5 * _safe_inv_sqrt(v, ops)", "denom * (g2 - v_prev) * 0.5 * _safe_inv_sqrt(v, ops)", HYPER,
           "RMSProp's gamma hypergradient sign"),
    Mutant("hyper-adam-beta2", "hyperopt/rules.py",
           "+ ops.sqrt(v) * 0.5 * p2_prev / (c2 * root_c2))", "- ops.sqrt(v) * 0.5 * p2_prev / (c2 * root_c2))", HYPER,
           "Adam's beta2 hypergradient: the bias correction's term with the wrong sign"),
    Mutant("hyper-sgd-nesterov-mu", "hyperopt/rules.py",
           'tangents["mu"] = -alpha * (b + mu * b_prev) if const["nesterov"]',
           'tangents["mu"] = -alpha * (b + b_prev) if const["nesterov"]', HYPER,
           "Nesterov momentum's hypergradient misses the factor mu"),
    Mutant("hyper-adagrad-alpha", "hyperopt/rules.py",
           'tangents = {"alpha": -direction} if "alpha" in want else {}',
           'tangents = {"alpha": direction} if "alpha" in want else {}', HYPER,
           "hypergradient sign of AdaGrad's step size"),
    Mutant("hyper-domain-squash", "hyperopt/domains.py",
           "squash = 1.0 - th * th  # d(trust*tanh(r/trust))/dr", "squash = 1.0", HYPER,
           "the trust bound's slope left out of the hypergradient chain"),
    Mutant("hyper-paper-tanh-unit", "hyperopt/domains.py",
           "return g * _tanh_unit_slope(c, ops) if domain is Domain.TANH_UNIT else g", "return g", HYPER_ALL,
           "update='paper': betas descended on their value, not on the stored tanh coordinate"),
    Mutant("hyper-tower-order", "hyperopt/tower.py",
           "values = level_values(tower, j, new_coords[j], len(targets), ops, p, lops)",
           "values = level_values(tower, j, levels[j].coords, len(targets), ops, p, lops)", HYPER_ALL,
           "a level updates with the hyperparameters from before the level above moved them"),
    Mutant("hyper-fast-sgd-sign", "hyperopt/fast.py",
           "hg0.append(-v if neg else v)", "hg0.append(v)", HYPER_ALL,
           "the torch fast step's folded sign of SGD's step-size tangent dropped"),
    Mutant("hyper-fast-bound", "hyperopt/fast.py",
           "                return False\n        if delta_args is not None:",
           "                pass\n        if delta_args is not None:", HYPER_ALL,
           "the torch fast step writes parameters without proving them finite"),
    # -- graders and OAPL (agents)
    Mutant("grader-lenient-close", "agents/tasks/normalize.py",
           "return abs(a - b) <= max(rel * abs(b), abs_tol)", "return abs(a - b) <= max(10 * rel * abs(b), abs_tol)",
           GRADERS, "numbers graded with a 10x looser tolerance"),
    Mutant("grader-percent", "agents/tasks/normalize.py",
           "        return close(q.value * 100, gold, rel, abs_tol)", "        return True", GRADERS,
           "any number accepted for a percentage"),
    Mutant("oapl-beta-swap", "agents/rl/trainer.py",
           "batch.oapl_args(beta=cfg.beta, beta1=cfg.beta1)", "batch.oapl_args(beta=cfg.beta1, beta1=cfg.beta)", OAPL,
           "OAPL's beta and beta1 mixed up"),
    Mutant("oapl-value", "agents/policy/model.py",
           "return float(beta1 * (m + np.log(np.mean(np.exp(z - m)))))", "return float(m + np.log(np.mean(np.exp(z - m))))",
           OAPL, "V(x) without its temperature"),
    Mutant("oapl-target-sign", "agents/policy/model.py",
           "d = beta * (lp - logp_lag) - target", "d = beta * (lp - logp_lag) + target", OAPL,
           "OAPL's advantage with the wrong sign"),
    # -- never silently wrong (#11)
    Mutant("narrow-promotes", "coarsen/frontend/narrow.py",
           "        if dtype == INT64:\n            self.set(r, INT64)\n            return\n",
           "        if True:\n            self.set(r, INT64)\n            return\n",
           ("tests/coarsen/test_never_wrong_narrow.py",), "int8/int32 arithmetic computed in int64 (no wrap-around)"),
    Mutant("narrow-bool-or", "coarsen/frontend/narrow.py",
           "if op in (Op.ADD, Op.SUB, Op.NEG) and self.boolish(instr):", "if False:",
           ("tests/coarsen/test_never_wrong_narrow.py",), "b + c of boolean arrays counted, not or-ed"),
    Mutant("lambda-by-params", "coarsen/frontend/source.py",
           "    node = found[0]\n", "    node = on_line[0]\n",
           ("tests/coarsen/test_never_wrong_sources.py",), "the first lambda on a line traced for any lambda there"),
]


def copy_tree(dest: Path, working_tree: bool) -> None:
    if working_tree:
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                               capture_output=True, check=True).stdout.decode().split("\0")
        for f in filter(None, files):
            src = ROOT / f
            if src.is_file():
                (dest / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / f)
    else:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def run_tests(tree: Path, tests: tuple[str, ...], scratch: Path, timeout: int) -> tuple[int, str]:
    env = dict(os.environ, COARSEN_CACHE_DIR=str(scratch / "coarsen"), NUMBA_CACHE_DIR=str(scratch / "numba"),
               COARSEN_AD_EXAMPLES=os.environ.get("COARSEN_AD_EXAMPLES", "40"), PYTHONDONTWRITEBYTECODE="1")
    env.pop("NUMBA_ENABLE_CUDASIM", None)   # the cuda test sets it for its own subprocess
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
           "-o", "addopts=", *tests]
    try:
        done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, "timed out"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--only", default="", help="comma-separated mutant names")
    p.add_argument("--working-tree", action="store_true", help="mutate a copy of the working tree, not HEAD")
    p.add_argument("--no-baseline", action="store_true", help="skip checking the unmutated tests pass")
    p.add_argument("--timeout", type=int, default=900, help="seconds per mutant")
    ns = p.parse_args(argv)
    chosen = [m for m in MUTANTS if not ns.only or m.name in ns.only.split(",")]
    if ns.list:
        for m in chosen:
            print(f"{m.name:24} {m.path:34} {m.why}\n{'':24} tests: {' '.join(m.tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="coarsen-mutation-") as tmp:
        tree, scratch = Path(tmp) / "tree", Path(tmp) / "scratch"
        tree.mkdir()
        copy_tree(tree, ns.working_tree)
        if not ns.no_baseline:
            suites = sorted({m.tests for m in chosen})
            for tests in suites:
                rc, last = run_tests(tree, tests, scratch / "baseline", ns.timeout)
                if rc != 0:
                    print(f"baseline FAILS (fix the tests before mutating): {' '.join(tests)}: {last}")
                    return 2
            print(f"baseline: {len(suites)} test selections pass unmutated")
        results = []
        for k, m in enumerate(chosen):
            file = tree / m.path
            text = file.read_text()
            count = text.count(m.old)
            if count != 1:
                results.append((m, "stale", f"snippet found {count} times"))
                print(f"[{k + 1}/{len(chosen)}] {m.name}: STALE ({count} matches)", flush=True)
                continue
            file.write_text(text.replace(m.old, m.new))
            start = time.perf_counter()
            try:
                rc, last = run_tests(tree, m.tests, scratch / m.name, ns.timeout)
            finally:
                file.write_text(text)
            status = "survived" if rc == 0 else "killed"
            results.append((m, status, last))
            print(f"[{k + 1}/{len(chosen)}] {m.name}: {status.upper()} ({time.perf_counter() - start:.0f} s) {last}",
                  flush=True)
        killed = sum(s == "killed" for _, s, _ in results)
        print(f"\nkilled {killed} of {len(results)} mutants ({100.0 * killed / max(1, len(results)):.0f}%)")
        for m, s, last in results:
            if s != "killed":
                print(f"  {s}: {m.name} ({m.path}): {m.why}")
        return 0 if killed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
