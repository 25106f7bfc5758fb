"""recall@10 of gold documents per regime for each search mode (bm25, dense, hybrid).

`python -m agents.retrieval_eval [--seed 0] [--n 30]` builds the default world and its index,
takes `n` eval tasks per regime, searches with each task's question as the query, and prints
a markdown table of mean |gold docs in the top 10| / |gold docs| (the table in
agents/README.md) with the build time of each index.
"""
from __future__ import annotations

import argparse
import time

from .tasks import REGIME_NAMES, sample_tasks
from .tools import SEARCH_MODES, SearchIndex
from .world.build import build_world


def recall_table(seed: int = 0, n: int = 30, regimes: list[str] | None = None,
                 modes: tuple[str, ...] = SEARCH_MODES, k: int = 10) -> dict:
    """{regime: {mode: recall@k}} over `n` eval tasks per regime, question as query, plus the
    index build times. Recall of a task = |gold docs in the top k| / |gold docs|."""
    world = build_world(seed=seed)
    index = SearchIndex.build(world.docs)
    t0 = time.perf_counter()
    index.dense  # build it now, to time it
    dense_seconds = time.perf_counter() - t0
    table: dict = {}
    for r in regimes or list(REGIME_NAMES):
        tasks = [t for t in sample_tasks(world, r, n, split="eval", seed=seed) if t.gold_docs]
        table[r] = {"n": len(tasks)}
        for mode in modes:
            vals = [len({h.doc_id for h in index.search(t.question, k, mode=mode)}
                        & set(t.gold_docs)) / len(t.gold_docs) for t in tasks]
            table[r][mode] = sum(vals) / len(vals) if vals else 0.0
    return {"table": table, "docs": len(index), "bm25_seconds": index.build_seconds,
            "dense_seconds": dense_seconds}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m agents.retrieval_eval",
                                description="recall@10 of gold documents per regime and mode")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=30, help="eval tasks per regime")
    args = p.parse_args(argv)
    res = recall_table(args.seed, args.n)
    modes = SEARCH_MODES
    print(f"{res['docs']} documents; BM25 index {res['bm25_seconds']:.2f}s, "
          f"dense index {res['dense_seconds']:.2f}s")
    print("| regime | n | " + " | ".join(f"{m} recall@10" for m in modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    for r, row in res["table"].items():
        print(f"| {r} | {row['n']} | " + " | ".join(f"{row[m]:.3f}" for m in modes) + " |")
    rows = list(res["table"].values())
    print("| mean of regimes | " + str(sum(r["n"] for r in rows)) + " | "
          + " | ".join(f"{sum(r[m] for r in rows) / len(rows):.3f}" for m in modes) + " |")


if __name__ == "__main__":
    main()
