"""The benchmark harness: cases, peers, agreement checks, robust timing, tables.

For each benchmark and size: every peer compiles its gradient (first-call time reported as
compile time), its gradient is checked against coarsen's (max error relative to the largest
gradient entry) and coarsen's against central finite differences of the plain program, then
all peers are timed *interleaved* — one sample of each in turn, the order rotated every
round — so a burst of load from other jobs on this shared 2-core machine lands on every peer
alike. A sample is `number` back-to-back calls with the garbage collector off (as timeit),
`number` chosen so a sample lasts `sample_s`. A sample during which the process was
descheduled (its CPU time under 90% of the wall time: other jobs share the 2 cores) is
dropped and retaken. Rounds continue until every peer's spread (interquartile range / median)
is under 5%, or the time budget is spent. Reported: medians
(and minima) per call; ratios peer / coarsen grad and coarsen grad / coarsen primal.
"""
from __future__ import annotations

import argparse
import csv
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.peers import CoarsenGrad, CoarsenPrimal, Peer, Prepared, all_peers

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    size: int
    label: str          # how the size reads in tables: "n=40", "records=200"
    args: tuple
    argnum: int = 0


@dataclass
class Benchmark:
    """One application, written once as plain Python + NumPy (`program`), differentiated
    w.r.t. argument `argnum` of the case; `hand_grad(*args)` is its hand-written Numba gradient."""

    name: str                                   # module name: python -m benchmarks.<name>
    title: str
    program: Callable
    hand_grad: Callable | None   # None: the "hand numba" peer is skipped
    make_case: Callable[[int, np.random.Generator], Case]
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    jax_program: Callable | None = None         # branch-free rewrite where jit cannot trace `if`
    immutable_program: Callable | None = None   # no element writes: for JAX and HIPS autograd
    limits: dict[str, tuple[int, str]] = field(default_factory=dict)   # peer -> (max size, why)


@dataclass
class Settings:
    sample_s: float = 0.002      # short: a sample often fits between two preemptions
    min_rounds: int = 7
    max_rounds: int = 31
    budget_s: float = 8.0        # per case, after the minimum rounds
    spread: float = 0.05         # stop early once every peer's IQR/median is below this
    on_cpu: float = 0.9          # a sample counts if the process ran this much of its wall time

    @classmethod
    def quick(cls) -> "Settings":
        return cls(min_rounds=5, max_rounds=15, budget_s=1.5)


@dataclass
class Timing:
    median_s: float
    min_s: float
    spread: float
    rounds: int          # samples the statistics come from
    number: int          # calls per sample
    dropped: int = 0     # samples dropped because the process was descheduled
    clean: bool = True   # False: too few undisturbed samples, all samples used


@dataclass
class Row:
    bench: str
    size: int
    label: str
    peer: str
    median_s: float | None = None
    min_s: float | None = None
    spread: float | None = None
    rounds: int | None = None
    number: int | None = None
    dropped: int | None = None
    compile_s: float | None = None
    rel_err: float | None = None
    note: str = ""


# ---------------------------------------------------------------------- timing
def _sample(call: Callable[[], Any], number: int) -> tuple[float, float]:
    """(wall seconds per call, fraction of the wall time this process was on a CPU)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        cpu0, start = time.process_time(), time.perf_counter()
        for _ in range(number):
            call()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        return wall / number, cpu / wall if wall > 0 else 1.0
    finally:
        if enabled:
            gc.enable()


def calibrate(call: Callable[[], Any], sample_s: float) -> int:
    """The number of calls that makes one sample last about `sample_s` (timeit's autorange)."""
    number = 1
    while True:
        per_call, _ = _sample(call, number)
        if per_call * number >= sample_s or number >= 10**7:
            return number
        number = min(10**7, max(2 * number, int(1.2 * sample_s / max(per_call, 1e-9))))


def _spread(samples: list[float]) -> float:
    if len(samples) < 4:
        return float("inf")
    q = statistics.quantiles(samples, n=4)
    return (q[2] - q[0]) / statistics.median(samples)


def measure(calls: dict[str, Callable[[], Any]], settings: Settings) -> dict[str, Timing]:
    """Interleaved, adaptive timing of several calls (see the module docstring).

    A sample during which the process was off the CPU for more than `1 - settings.on_cpu` of
    its wall time (descheduled by other jobs) is dropped and taken again, up to 4x the
    maximum rounds; if a peer never gets `min_rounds` clean samples, all of its samples count
    and `Timing.clean` is False."""
    names = list(calls)
    numbers = {n: calibrate(calls[n], settings.sample_s) for n in names}   # also warms up
    clean: dict[str, list[float]] = {n: [] for n in names}
    every: dict[str, list[float]] = {n: [] for n in names}
    start = time.perf_counter()
    rounds = 0
    while rounds < 4 * settings.max_rounds:
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            if len(clean[name]) >= settings.max_rounds:
                continue
            # A short sample (several calls) that was disturbed is retaken at once, twice at
            # most: cheap, and it keeps fast peers from running out of rounds while slow ones
            # (one call per sample) use up the budget.
            for _ in range(3 if numbers[name] > 1 else 1):
                per_call, on_cpu = _sample(calls[name], numbers[name])
                every[name].append(per_call)
                if on_cpu >= settings.on_cpu:
                    clean[name].append(per_call)
                    break
        rounds += 1
        enough = all(len(s) >= settings.min_rounds for s in clean.values())
        if (enough and (time.perf_counter() - start > settings.budget_s
                        or all(_spread(s) < settings.spread for s in clean.values()))) \
                or all(len(s) >= settings.max_rounds for s in clean.values()) \
                or (rounds >= settings.min_rounds and time.perf_counter() - start > 4 * settings.budget_s):
            break
    out = {}
    for n in names:
        ok = len(clean[n]) >= settings.min_rounds
        s = clean[n] if ok else every[n]
        out[n] = Timing(statistics.median(s), min(s), _spread(s), len(s), numbers[n],
                        len(every[n]) - len(clean[n]), ok)
    return out


# ---------------------------------------------------------------------- checks
def rel_err(got: Any, ref: Any) -> float:
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-300)
    return float(np.max(np.abs(got - ref))) / scale if ref.size else 0.0


def finite_difference_error(bench: Benchmark, case: Case, grad: Any, directions: int = 3) -> float:
    """Directional central differences of the plain program against grad . v."""
    rng = np.random.default_rng(1)
    x = case.args[case.argnum]
    grad = np.asarray(grad, dtype=np.float64)
    worst = 0.0
    for _ in range(directions):
        v = rng.standard_normal(np.shape(x))
        eps = 1e-6 * max(1.0, float(np.max(np.abs(x))))

        def at(t):
            args = list(case.args)
            args[case.argnum] = x + t * v if isinstance(x, np.ndarray) else float(x + t * v)
            return bench.program(*args)
        fd = (at(eps) - at(-eps)) / (2 * eps)
        exact = float(np.sum(grad * v))
        worst = max(worst, abs(fd - exact) / max(abs(exact), float(np.sum(np.abs(grad * v))), 1e-300))
    return worst


# ---------------------------------------------------------------------- running
def run_case(bench: Benchmark, case: Case, peers: list[Peer], settings: Settings,
             progress=None) -> list[Row]:
    rows: list[Row] = []
    prepared: dict[str, Prepared] = {}
    isolated: list[tuple[Peer, Row]] = []
    ref = None
    for peer in peers:
        row = Row(bench.name, case.size, case.label, peer.name)
        rows.append(row)
        reason = peer.available()
        limit = bench.limits.get(peer.name)
        if reason is None and limit is not None and case.size > limit[0]:
            reason = limit[1]
        if reason is None and peer.name == "hand numba" and bench.hand_grad is None:
            reason = "no hand-written or closed-form gradient for this program"
        if reason:
            row.note = f"skipped: {reason}"
            continue
        if peer.isolated:
            isolated.append((peer, row))
            continue
        if progress is not None:
            progress.set_postfix_str(f"{case.label}: compiling {peer.name}")
        try:
            prep = peer.prepare(bench, case)
            out = prep.to_numpy(prep.call())
        except Exception as err:   # a peer that breaks is reported, not fatal
            row.note = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            continue
        row.compile_s, row.note = prep.compile_s, prep.note
        if isinstance(peer, CoarsenGrad):
            ref = out
            row.rel_err = finite_difference_error(bench, case, out)
            row.note = "; ".join(x for x in (row.note, "rel_err: vs central differences") if x)
        elif isinstance(peer, CoarsenPrimal):
            row.rel_err = rel_err(out, bench.program(*case.args))
            row.note = "; ".join(x for x in (row.note, f"{peer.kind}; rel_err: value vs plain Python") if x)
        elif ref is not None:
            row.rel_err = rel_err(out, ref)
        prepared[peer.name] = prep
    if progress is not None:
        progress.set_postfix_str(f"{case.label}: timing {len(prepared)} peers")
    timings = measure({n: p.call for n, p in prepared.items()}, settings)
    for row in rows:
        t = timings.get(row.peer)
        if t is not None:
            row.median_s, row.min_s, row.spread, row.rounds, row.number, row.dropped = (
                t.median_s, t.min_s, t.spread, t.rounds, t.number, t.dropped)
            if not t.clean:
                row.note = "; ".join(x for x in (row.note, "too few undisturbed samples: all samples used") if x)
            if row.compile_s is not None:   # the first call also ran the gradient once
                row.compile_s = max(row.compile_s - t.median_s, 0.0)
    grad = next((r for r in rows if r.peer == "coarsen grad"), None)
    for peer, row in isolated:
        if progress is not None:
            progress.set_postfix_str(f"{case.label}: {peer.name} in its own process")
        _run_isolated(bench, case, peer, settings, row, grad)
    return rows


def _run_isolated(bench: Benchmark, case: Case, peer: Peer, settings: Settings, row: Row,
                  grad: Row | None) -> None:
    """Run `peer` beside coarsen grad in a child process, and keep the child's ratio: the
    peer's times are scaled by (coarsen grad here / coarsen grad there)."""
    import json
    target = getattr(peer, "target", None) or os.environ.get("COARSEN_BENCH_TARGET", "cpu")
    code = ("import json, sys; from benchmarks.harness import isolated_child; "
            f"isolated_child({json.dumps([bench.name, case.size, peer.name, target, vars(settings)])!r})")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             timeout=3600, cwd=root)
        child = {r["peer"]: r for r in json.loads(out.stdout.strip().splitlines()[-1])}
    except (subprocess.SubprocessError, ValueError, IndexError) as err:
        row.note = f"failed: in its own process: {type(err).__name__}"
        return
    mine, theirs = child.get(peer.name, {}), child.get("coarsen grad", {})
    row.note = "; ".join(x for x in (mine.get("note", ""), "timed in its own process (it slows other "
                                      "peers' Python calls), scaled by coarsen grad's time there") if x)
    row.compile_s, row.rel_err, row.rounds, row.number, row.dropped, row.spread = (
        mine.get("compile_s"), mine.get("rel_err"), mine.get("rounds"), mine.get("number"),
        mine.get("dropped"), mine.get("spread"))
    if mine.get("median_s") and theirs.get("median_s") and grad is not None and grad.median_s:
        scale = grad.median_s / theirs["median_s"]
        row.median_s, row.min_s = mine["median_s"] * scale, mine["min_s"] * scale


def find_benchmark(name: str) -> Benchmark:
    """A benchmark by name: `benchmarks.<name>`'s BENCHMARK, or one of benchmarks.adbench's."""
    import importlib
    try:
        return importlib.import_module(f"benchmarks.{name}").BENCHMARK
    except ModuleNotFoundError:
        from benchmarks.adbench.__main__ import ALL
        return next(b for b in ALL if b.name == name)


def isolated_child(spec: str) -> None:
    """Entry point of `_run_isolated`'s child: prints the case's rows as JSON."""
    import importlib
    import json
    name, size, peer_name, target, settings = json.loads(spec)
    bench = find_benchmark(name)
    case = bench.make_case(size, np.random.default_rng(0))
    peer = next(p for p in all_peers(target) if p.name == peer_name)
    peer.isolated = False
    rows = run_case(bench, case, [CoarsenGrad(target), peer], Settings(**settings))
    print(json.dumps([vars(r) for r in rows]))


def second_process_compile(bench: Benchmark, case_size: int, target: str, cold: bool = False) -> float | None:
    """coarsen.grad's first call in a fresh process sharing this run's disk cache, after a
    one-line program has paid the process's one-off costs (importing Numba, loading coarsen's
    runtime). `cold`: with empty coarsen and Numba caches instead, as on a machine where
    coarsen never compiled anything (its Numba runtime library, `kernels.numba_runtime`, is
    otherwise cached on disk after its first use)."""
    code = ("import sys, time, numpy as np, coarsen, importlib; from benchmarks import _probe; "
            f"coarsen.grad(_probe.square, target={target!r})(3.0); "   # imports, Numba start-up
            f"from benchmarks.harness import find_benchmark; b = find_benchmark({bench.name!r}); "
            f"c = b.make_case({case_size}, np.random.default_rng(0)); "
            f"g = coarsen.grad(b.program, argnums=c.argnum, target={target!r}); "
            "t = time.perf_counter(); g(*c.args); print(time.perf_counter() - t)")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    if cold:
        env["COARSEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="coarsen-bench-cold-")
        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="numba-bench-cold-")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             timeout=300, cwd=root)
        return float(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def default_target() -> str:
    """"cpu" when coarsen can compile a gradient with Numba here, else "numpy"."""
    import warnings
    import coarsen
    from benchmarks import _probe
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")   # a silent fallback to NumPy does not count
            coarsen.grad(_probe.square, target="cpu")(3.0)
        return "cpu"
    except Exception:
        return "numpy"


# ---------------------------------------------------------------------- output
def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}x" if x < 1000 else f"{x:,.0f}x"


_CHECKED_AGAINST = {"coarsen grad": "coarsen grad vs central differences",
                    "coarsen primal": "coarsen primal vs plain Python"}
RATIO_PEERS = ("hand numba", "jax jit(grad)", "torch eager", "torch.func.grad", "torch.compile", "autograd")


def table(rows: list[Row], benches: dict[str, Benchmark], header: str) -> str:
    """The text table: per case, coarsen's times and every peer's time / coarsen grad time."""
    cases: dict[tuple[str, int], dict[str, Row]] = {}
    for r in rows:
        cases.setdefault((r.bench, r.size), {})[r.peer] = r
    cols = ["benchmark", "size", "coarsen grad", "primal", "grad/primal", *RATIO_PEERS]
    lines_ = []
    for (bench, _), by_peer in cases.items():
        grad, primal = by_peer.get("coarsen grad"), by_peer.get("coarsen primal")
        g = grad.median_s if grad else None
        cells = [benches[bench].title, next(iter(by_peer.values())).label, _fmt_time(g),
                 _fmt_time(primal.median_s if primal else None),
                 _fmt_ratio(g / primal.median_s) if g and primal and primal.median_s else "-"]
        for peer in RATIO_PEERS:
            r = by_peer.get(peer)
            if r is None or r.median_s is None or not g:
                cells.append("skip" if r is not None and r.note.startswith("skipped") else
                             "fail" if r is not None and r.note.startswith("failed") else "-")
            else:
                bad = r.rel_err is not None and r.rel_err > 1e-6
                cells.append(_fmt_ratio(r.median_s / g) + ("!" if bad else ""))
        lines_.append(cells)
    widths = [max(len(c[i]) for c in [cols, *lines_]) for i in range(len(cols))]
    out = [header, "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for cells in lines_:
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    out.append("")
    out.append("Peer columns: peer median time / coarsen grad median time (>1: coarsen is faster). "
               "'!' marks a gradient that disagrees with coarsen's (rel err > 1e-6).")
    return "\n".join(out)


def compile_table(rows: list[Row], benches: dict[str, Benchmark], warm: dict[str, float | None],
                  cold: dict[str, float | None]) -> str:
    peers = ("coarsen grad", "coarsen primal", "hand numba", "jax jit(grad)", "torch.compile")
    cols = ["benchmark", "size", *peers, "coarsen grad, 2nd process", "coarsen grad, cold process"]
    cases: dict[tuple[str, int], dict[str, Row]] = {}
    for r in rows:
        cases.setdefault((r.bench, r.size), {})[r.peer] = r
    body, seen = [], set()
    for (bench, _), by_peer in cases.items():
        cells = [benches[bench].title, next(iter(by_peer.values())).label]
        cells += [_fmt_time(by_peer[p].compile_s) if p in by_peer else "-" for p in peers]
        cells.append(_fmt_time(warm.get(bench)) if bench not in seen else "")
        cells.append(_fmt_time(cold.get(bench)) if bench not in seen else "")
        seen.add(bench)
        body.append(cells)
    widths = [max(len(c[i]) for c in [cols, *body]) for i in range(len(cols))]
    out = ["Compile times (first call minus one steady call; coarsen's later sizes and the 2nd "
           "process hit its disk cache, as its compiled code depends on ranks, not sizes; the cold "
           "process has empty coarsen and Numba caches, as on a machine where coarsen never ran):",
           "  ".join(c.ljust(w) for c, w in zip(cols, widths)), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join(out)


def write_csv(rows: list[Row], path: Path, target: str) -> None:
    fields = ["bench", "size", "label", "peer", "median_s", "min_s", "spread", "rounds", "number",
              "dropped", "compile_s", "rel_err", "ratio_vs_coarsen_grad", "target", "note"]
    grads = {(r.bench, r.size): r.median_s for r in rows if r.peer == "coarsen grad"}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        for r in rows:
            g = grads.get((r.bench, r.size))
            ratio = r.median_s / g if r.median_s and g else None
            w.writerow([r.bench, r.size, r.label, r.peer, r.median_s, r.min_s, r.spread, r.rounds,
                        r.number, r.dropped, r.compile_s, r.rel_err, ratio, target, r.note])


# ---------------------------------------------------------------------- CLI
def parse_args(argv, names: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smallest sizes, short timing budget")
    p.add_argument("--target", choices=("cpu", "numpy"), default=None,
                   help="coarsen target (default: cpu if it compiles here, else numpy)")
    p.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(names)}")
    p.add_argument("--peers", default="", help="comma-separated subset of peer names (coarsen is always run)")
    p.add_argument("--sizes", default="", help="comma-separated sizes (overrides the benchmark's)")
    p.add_argument("--out", default=None, help="path prefix for the .csv and .txt results")
    p.add_argument("--keep-cache", action="store_true",
                   help="use coarsen's usual disk cache (default: a fresh one, so compiles are cold)")
    p.add_argument("--budget", type=float, default=None, help="timing budget per case, seconds")
    return p.parse_args(argv)


def main(benches: list[Benchmark], argv=None, default_name: str = "all") -> list[Row]:
    from tqdm import tqdm

    args = parse_args(sys.argv[1:] if argv is None else argv, [b.name for b in benches])
    if not args.keep_cache:
        os.environ["COARSEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="coarsen-bench-cache-")
    if args.only:
        wanted = set(args.only.split(","))
        benches = [b for b in benches if b.name in wanted]
    target = args.target or default_target()
    os.environ["COARSEN_BENCH_TARGET"] = target
    settings = Settings.quick() if args.quick else Settings()
    if args.budget is not None:
        settings.budget_s = args.budget
    peers = all_peers(target)
    if args.peers:
        wanted = set(args.peers.split(",")) | {"coarsen grad", "coarsen primal"}
        peers = [p for p in peers if p.name in wanted]
    primal_kind = next(p.kind for p in peers if isinstance(p, CoarsenPrimal))
    rng_seed = 0
    plan = []
    for b in benches:
        sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else (
            b.quick_sizes if args.quick else b.sizes)
        plan += [(b, s) for s in sizes]
    header = (f"coarsen target={target!r}; coarsen primal = {primal_kind}; "
              f"{os.cpu_count()} cores, one thread per peer; {'quick' if args.quick else 'full'} mode; "
              f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print(header)
    rows: list[Row] = []
    with tqdm(plan, desc="benchmarks", unit="case", dynamic_ncols=True) as bar:
        for bench, size in bar:
            bar.set_description(bench.title)
            case = bench.make_case(size, np.random.default_rng(rng_seed))
            case_rows = run_case(bench, case, peers, settings, bar)
            rows += case_rows
            errs = ", ".join(f"{_CHECKED_AGAINST.get(r.peer, r.peer + ' vs coarsen')} {r.rel_err:.1e}"
                             for r in case_rows if r.rel_err is not None)
            problems = "; ".join(f"{r.peer}: {r.note}" for r in case_rows
                                 if r.note.startswith(("failed", "skipped")) or "cannot compile" in r.note)
            bar.write(f"{bench.name} {case.label}: max rel err ({errs})"
                      + (f"\n    {problems}" if problems else ""))
    by_name = {b.name: b for b in benches}
    warm, cold = {}, {}
    if any(p.name == "coarsen grad" for p in peers):
        for b in tqdm(benches, desc="2nd/cold-process compile", unit="bench", dynamic_ncols=True):
            sizes = b.quick_sizes if args.quick else b.sizes
            warm[b.name] = second_process_compile(b, sizes[0], target)
            cold[b.name] = second_process_compile(b, sizes[0], target, cold=True)
    text = "\n\n".join([table(rows, by_name, header), compile_table(rows, by_name, warm, cold)])
    print()
    print(text)
    prefix = Path(args.out) if args.out else RESULTS / (default_name + ("-quick" if args.quick else ""))
    prefix.parent.mkdir(parents=True, exist_ok=True)
    write_csv(rows, prefix.with_suffix(".csv"), target)
    notes = [f"{r.bench} {r.label} {r.peer}: {r.note}" for r in rows if r.note]
    prefix.with_suffix(".txt").write_text(text + "\n\nNotes:\n" + "\n".join(notes) + "\n")
    print(f"\nwrote {prefix.with_suffix('.csv')} and {prefix.with_suffix('.txt')}")
    return rows
