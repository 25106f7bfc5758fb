"""Build a complete world: records, then documents, then stable document ids.

Input: `seed` and `scale` (target document count). Output: a `World` whose `docs` list has
exactly max(scale, core) documents, where core is the number of entity documents; filler
documents make up the difference. Invariants: deterministic per (seed, scale); document ids
are `doc-NNNNNN` assigned after a seeded shuffle, so an id says nothing about its content.
"""
from __future__ import annotations

import random

from .entities import World
from .generate import generate_entities
from .generate_ops import generate_notes
from .render import render_customers, render_deals, render_finance, render_people, \
    render_products
from .render_ops import render_filler, render_notes, render_runbooks

DEFAULT_SCALE = 2000


def build_world(seed: int = 0, scale: int = DEFAULT_SCALE) -> World:
    world = generate_notes(seed, generate_entities(seed, scale))
    rng = random.Random(f"{seed}:render")
    docs = []
    for render in (render_people, render_customers, render_deals, render_finance,
                   render_products, render_runbooks, render_notes):
        docs += render(world, rng)
    docs += render_filler(world, rng, max(0, scale - len(docs)))
    random.Random(f"{seed}:ids").shuffle(docs)
    for i, d in enumerate(docs):
        d.doc_id = f"doc-{i:06d}"
    world.docs = docs
    world.index_docs()
    return world
