"""Build-cost measurement of a world and its index at a given scale.

Input: `--scale N --seed S` on the command line (run as `python -m agents.bench`), one scale
per process so peak memory is not polluted by an earlier, larger build. Output: one JSON line
with document count, world build seconds, index build seconds, total text size and peak
resident memory (whole process, and above the post-import baseline).
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def _rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux (bytes on macOS).
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def measure(scale: int, seed: int = 0) -> dict:
    from .tools import SearchIndex
    from .world import build_world
    base = _rss_mb()
    t0 = time.perf_counter()
    world = build_world(seed, scale)
    t_world = time.perf_counter() - t0
    after_world = _rss_mb()
    index = SearchIndex.build(world.docs)
    return {"scale": scale, "seed": seed, "docs": len(world.docs),
            "text_mb": round(sum(len(d.text) for d in world.docs) / 2**20, 2),
            "world_seconds": round(t_world, 3), "index_seconds": round(index.build_seconds, 3),
            "peak_rss_mb": round(_rss_mb(), 1), "world_rss_delta_mb": round(after_world - base, 1),
            "total_rss_delta_mb": round(_rss_mb() - base, 1)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m agents.bench")
    p.add_argument("--scale", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    print(json.dumps(measure(a.scale, a.seed)))


if __name__ == "__main__":
    main()
