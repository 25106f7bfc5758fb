"""The generated world: determinism, scale, and documents faithful to the ground truth."""
from __future__ import annotations

import hashlib
import re

from agents import extract as X
from agents.world import build_world
from agents.world.generate_ops import latest_status


def fingerprint(world) -> str:
    h = hashlib.sha256()
    for d in world.docs:
        h.update(f"{d.doc_id}\x00{d.title}\x00{d.text}\x00{d.refs}".encode())
    return h.hexdigest()


def test_same_seed_same_world(world):
    again = build_world(0, 2000)
    assert fingerprint(again) == fingerprint(world)
    assert again.customers == world.customers and again.notes == world.notes


def test_different_seed_different_world(world):
    other = build_world(1, 2000)
    assert fingerprint(other) != fingerprint(world)
    assert [c.name for c in other.customers.values()] != \
        [c.name for c in world.customers.values()]


def test_default_world_has_scale_documents_with_unique_ids(world):
    assert len(world.docs) == 2000
    assert len({d.doc_id for d in world.docs}) == 2000
    kinds = {d.kind for d in world.docs}
    assert {"person", "roster", "customer", "archived", "directory", "deal", "pipeline",
            "finance", "flash", "finance_original", "runbook", "deprecated", "prereq",
            "note", "filler"} <= kinds
    # filler is noise, not the bulk of the corpus
    assert sum(d.kind == "filler" for d in world.docs) < 0.35 * len(world.docs)


def test_scale_grows_entities_and_documents():
    big = build_world(0, 10_000)
    small = build_world(0, 2000)
    assert len(big.docs) == 10_000
    assert len(big.customers) > 4 * len(small.customers)
    assert len(big.notes) > 4 * len(small.notes)
    tiny = build_world(0, 300)
    assert len(tiny.docs) >= 300 and len({d.doc_id for d in tiny.docs}) == len(tiny.docs)


def test_cross_references_resolve(world):
    for p in world.people.values():
        assert p.manager is None or p.manager in world.people
        assert p.team in world.teams
    for c in world.customers.values():
        assert c.owner in world.people and world.people[c.owner].department == "Sales"
        assert set(c.products) <= set(world.products)
    for d in world.deals.values():
        assert d.customer in world.customers and d.owner in world.people and d.close > d.created
    for a in world.actions.values():
        assert a.note in world.notes
        if a.cancelled_in:
            assert world.notes[a.cancelled_in].date > world.notes[a.note].date
    for ref, ids in world.by_ref.items():
        assert ids and all(world.doc(i) for i in ids)


def test_customer_profiles_state_the_truth(world):
    name = {p.pid: p.name for p in world.people.values()}
    for c in world.customers.values():
        (doc_id,) = world.docs_for(f"customer:{c.cid}")
        p = X.customer_profile(world.doc(doc_id).text)
        assert not p["archived"]
        assert (p["name"], p["industry"], p["region"], p["hq"], p["owner"]) == \
            (c.name, c.industry, c.region, c.hq_city, name[c.owner])
        assert p["employees"] == c.employees and p["products"] == c.products
        assert p["revenue"] == c.revenue
        if c.previous:
            (old,) = world.docs_for(f"archived:{c.cid}")
            q = X.customer_profile(world.doc(old).text)
            assert q["archived"] and q["owner"] == name[c.previous.owner]


def test_final_statements_match_truth_and_distractors_differ(world):
    rows = {(r.division, r.segment, r.quarter): r for r in world.finance}
    restated = 0
    for div in world.divisions():
        for q in world.quarters():
            (final,) = world.docs_for(f"finance:{div}:{q}")
            table = X.tables(world.doc(final).text)[0]
            for row in table[:-1]:
                truth = rows[(div, row["Segment"], q)]
                assert X.number(row["Revenue"]) * 1000 == truth.revenue
                assert X.number(row["Operating income"]) * 1000 == truth.operating_income
            (flash,) = world.docs_for(f"flash:{div}:{q}")
            assert X.tables(world.doc(flash).text)[0] != table
            orig = world.docs_for(f"finance_original:{div}:{q}")
            if orig:
                restated += 1
                assert "restated" in world.doc(final).title
                assert X.tables(world.doc(orig[0]).text)[0] != table
    assert restated > 0


def test_runbook_documents_list_each_variant_in_order(world):
    for rb in world.runbooks.values():
        for i, var in enumerate(rb.variants):
            (doc_id,) = world.docs_for(f"runbook:{rb.rid}:{i}")
            secs = X.sections_with_steps(world.doc(doc_id).text)
            covering = [s for label, s in secs
                        if all(X.version_in_scope(v, label) for v in var.versions)]
            assert var.steps in covering
            others = [v for v in world.products[rb.product].versions if v not in var.versions]
            label = next(lab for lab, s in secs if s == var.steps)
            assert not any(X.version_in_scope(v, label) for v in others)


def test_notes_record_superseding_decisions_and_cancellations(world):
    changed = 0
    for proj in world.projects.values():
        for field, hist in proj.history.items():
            dates = [u.date for u in hist]
            assert dates == sorted(dates) and len(set(dates)) == len(dates)
            for u in hist:
                (doc_id,) = world.docs_for(f"note:{u.note}")
                parsed = X.meeting_note(world.doc(doc_id).text)
                values = [X.decision_value(f, v) for p, f, v in parsed["decisions"]
                          if p == proj.name and f == field]
                expect = world.people[u.value].name if field == "project lead" else u.value
                assert values == [expect]
            if len(hist) > 1:
                changed += 1
                (doc_id,) = world.docs_for(f"note:{hist[-1].note}")
                assert re.search(r"supersedes|replaces", world.doc(doc_id).text)
    assert changed > 10
    cancelled = [a for a in world.actions.values() if a.cancelled_in]
    assert cancelled
    for a in cancelled[:50]:
        (doc_id,) = world.docs_for(f"note:{a.cancelled_in}")
        parsed = X.meeting_note(world.doc(doc_id).text)
        assert (world.people[a.owner].name, a.text) in parsed["cancelled"]


def test_latest_status_is_well_defined(world):
    seen = 0
    for cid in list(world.customers)[:80]:
        best = latest_status(world, cid)
        if best is None:
            continue
        seen += 1
        status, nid = best
        dates = [n.date for n in world.notes.values() for c, _ in n.statuses if c == cid]
        assert dates.count(world.notes[nid].date) == 1 and max(dates) == world.notes[nid].date
    assert seen > 20


def test_determinism_does_not_depend_on_hash_randomisation(world):
    """Same world and tasks in a fresh interpreter with another PYTHONHASHSEED."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from agents.tasks import REGIME_NAMES, sample_tasks
    code = ("import hashlib, json\n"
            "from agents.world import build_world\n"
            "from agents.tasks import REGIME_NAMES, sample_tasks\n"
            "from test_agents_world import fingerprint\n"
            "w = build_world(0, 2000)\n"
            "tasks = [t.to_json() for r in REGIME_NAMES\n"
            "         for t in sample_tasks(w, r, 6, 'eval', 1)]\n"
            "print(json.dumps([fingerprint(w), tasks]))\n")
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONHASHSEED="12345",
               PYTHONPATH=os.pathsep.join([str(here.parents[1]), str(here)]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    fp, tasks = json.loads(out)
    assert fp == fingerprint(world)
    assert tasks == json.loads(json.dumps(
        [t.to_json() for r in REGIME_NAMES for t in sample_tasks(world, r, 6, "eval", 1)]))
