"""PNG plots of a run: learning curves per regime and cost/latency-quality Pareto fronts.

Input: curves.csv files of training runs ({label: path}) and an evaluation summary
({agent: {"all": stats, ...}}). Output: PNG files (matplotlib, Agg backend: no display).
Invariants: plots only read what the runs wrote; a missing file or agent is skipped, never
fatal; the Pareto front is the set of points no other point beats on both axes (lower cost
or latency and higher score).
"""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import NullFormatter  # noqa: E402

from ..tasks import REGIME_NAMES  # noqa: E402


def read_curves(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path) as f:
        return [dict(r, iteration=int(r["iteration"]), score=float(r["score"]))
                for r in csv.DictReader(f)]


def learning_curves(runs: dict[str, Path], train_regimes: dict[str, tuple[str, ...]],
                    out: Path) -> Path:
    """One panel per regime: greedy eval score (solid) and training score (dashed)."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True)
    for ax, regime in zip(axes.flat, REGIME_NAMES):
        held = [lab for lab, rs in train_regimes.items() if regime not in rs]
        for k, (label, path) in enumerate(runs.items()):
            rows = read_curves(path)
            color = f"C{k}"
            for split, style in (("eval", "-"), ("train", "--")):
                pts = sorted((r["iteration"], r["score"]) for r in rows
                             if r["regime"] == regime and r["split"] == split)
                if pts:
                    ax.plot(*zip(*pts), style, color=color, marker="o", ms=3,
                            label=f"{label} ({split})")
        note = "held out by all" if len(held) == len(runs) else \
            f"trained: {', '.join(l for l in runs if l not in held)}"
        ax.set_title(f"{regime}  [{note}]", fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("iteration")
    for ax in axes[:, 0]:
        ax.set_ylabel("score")
    # Every run and split drawn in any panel (a run may have no points in the first one).
    seen: dict[str, object] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    rows = max(1, -(-len(seen) // 6))
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(6, len(seen)),
               fontsize=8)
    fig.tight_layout(rect=(0, 0.03 + 0.03 * rows, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _label_points(ax, pts: list[tuple[float, float, str]], colors: dict[str, str]) -> None:
    """Label each point beside it; a label that would overlap one placed before it (they are
    placed from the highest point down), a marker or the frame moves a line down or up until
    it overlaps none; labels take their point's colour. Extents are measured on the rendered text."""
    if not pts:
        return
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    from matplotlib.transforms import Bbox
    r = 6 * fig.dpi / 72  # a marker's half-size in pixels: labels keep off every point
    markers = {name: Bbox.from_extents(px - r, py - r, px + r, py + r)
               for (px, py), (_, _, name) in zip(
                   ax.transData.transform([(x, y) for x, y, _ in pts]), pts)}
    placed: list = []
    for x, y, name in sorted(pts, key=lambda p: -p[1]):
        others = placed + [b for n, b in markers.items() if n != name]
        frame = ax.get_window_extent(renderer)
        # Offsets (points) tried in turn: just above the marker, then a line further down
        # or up, alternately; the first that overlaps nothing and stays inside the axes wins.
        for k in range(60):
            dy = 3.0 + (10.0 * ((k + 1) // 2) * (-1 if k % 2 else 1))
            t = ax.annotate(name, (x, y), xytext=(5, dy), textcoords="offset points",
                            fontsize=8, va="bottom")
            box = t.get_window_extent(renderer).expanded(1.0, 1.1)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and \
                frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(b) for b in others):
                break
            if k < 59:
                t.remove()
        t.set_color(colors.get(name, "black"))  # a moved label is told apart by colour
        placed.append(box)


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Points (cost, score, label) not dominated by another, sorted by cost."""
    front = [p for p in points if not any(
        (q[0] <= p[0] and q[1] >= p[1]) and (q[0] < p[0] or q[1] > p[1]) for q in points)]
    return sorted(front)


def pareto(summary: dict[str, dict], axis: str, out: Path,
           groups: tuple[str, ...] = ("train", "held_out", "all")) -> Path:
    """Score against mean `axis` ("tokens" or "latency") per question, one panel per group
    of regimes; the front is drawn as a step line."""
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4.5))
    axes = [axes] if len(groups) == 1 else list(axes)
    to_label = []  # labelled once the layout is final: label offsets are in points
    for ax, group in zip(axes, groups):
        pts = [(s[group][axis], s[group]["score"], name) for name, s in summary.items()
               if group in s and s[group]]
        for k, (x, y, name) in enumerate(pts):
            ax.scatter([x], [y], color=f"C{k}", s=40, zorder=3)
            lo, hi = summary[name][group].get("ci", (None, None))
            if lo is not None and hi is not None and lo == lo:  # the 95% interval (not nan)
                ax.plot([x, x], [lo, hi], color=f"C{k}", alpha=0.5, lw=1.5, zorder=2)
        to_label.append((ax, pts))
        front = pareto_front(pts)
        if front:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post",
                    color="gray", alpha=0.6)
            ax.scatter([p[0] for p in front], [p[1] for p in front], s=140,
                       facecolors="none", edgecolors="gray", label="Pareto front")
        if pts:
            # Room above the highest point for the legend, so that it hides no point.
            top = max(max(p[1] for p in pts), max(
                (summary[n][group].get("ci", (0, 0))[1] or 0) for _, _, n in pts))
            ax.set_ylim(min(0.0, min(p[1] for p in pts)) - 0.02, max(1.0, top) * 1.22)
            ax.legend(fontsize=8, loc="upper left", ncol=2)
        ax.set_xscale("log")
        if pts:  # room on the right for the labels
            ax.set_xlim(min(p[0] for p in pts) / 1.6, max(p[0] for p in pts) * 3.0)
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide on short ranges
        ax.set_xlabel("tokens per question" if axis == "tokens" else "latency per question (s)")
        ax.set_ylabel("mean score")
        ax.set_title({"all": "all six regimes", "held_out": "regimes held out by every run",
                      "train": "training regimes (constraint, report)"}.get(group, group),
                     fontsize=10)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    for ax, pts in to_label:
        _label_points(ax, pts, {name: f"C{k}" for k, (_, _, name) in enumerate(pts)})
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
