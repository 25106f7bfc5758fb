"""Question writers for the explorer, one per regime; each works through a ToolSession.

Input: a `ToolSession` (search/read only) and an rng. Output: a `Draft` (question, answer,
grader meta, claim, evidence doc ids) or None when the walk found nothing usable.
Invariants: every answer is derived from text the writer read in this call; the claim
restates the question in structured form for the later ground-truth audit and is never used
to produce the answer.
"""
from __future__ import annotations

import random
import re

from .. import extract as X
from ..tasks.normalize import parse_date
from .explorer import Draft, ToolSession

# Share of questions worded like the evaluation templates: these can collide with evaluation
# questions, which the de-duplication step must then catch.
STANDARD = 0.3
METRICS = {"revenue": "Revenue", "cost of revenue": "Cost of revenue",
           "operating expenses": "Operating expenses", "operating income": "Operating income"}


def _find(s: ToolSession, query: str, pred, k: int = 10):
    return next((h for h in s.search(query, k) if pred(h.title)), None)


def _profile(s: ToolSession, rng: random.Random):
    pool = sorted(s.customers - s.avoid)
    if not pool:
        return None, None, None
    name = rng.choice(pool)
    hit = _find(s, f"Account profile {name}", lambda t: t == f"Account profile: {name}")
    if hit is None:
        return None, None, None
    p = X.customer_profile(s.read(hit.doc_id))
    return (name, hit, p) if p.get("industry") else (None, None, None)


def _same(p: dict, attr: str, value) -> bool:
    if attr == "since":
        return bool(p.get("since")) and p["since"].year == value
    return p.get(attr) == value


def constraint(s: ToolSession, rng: random.Random) -> Draft | None:
    name, hit, p = _profile(s, rng)
    if hit is None:
        return None
    attrs = [("industry", p["industry"], f"operates in the {p['industry']} industry"),
             ("hq", p["hq"], f"is headquartered in {p['hq']}"),
             ("size", p["size"], f"is classified as {p['size']}"),
             ("region", p["region"], f"sits in the {p['region']} region")]
    if p.get("since"):
        attrs.append(("since", p["since"].year, f"became a customer in {p['since'].year}"))
    rng.shuffle(attrs)
    chosen, evidence = attrs[:2], [hit.doc_id]
    for _ in range(3):  # check uniqueness as far as three rival profiles show
        rivals = [h for h in s.search(" ".join(str(v) for _, v, _ in chosen), 10)
                  if h.title.startswith("Account profile:") and h.title != hit.title][:3]
        if not any(all(_same(X.customer_profile(s.read(h.doc_id)), a, v) for a, v, _ in chosen)
                   for h in rivals):
            break
        if len(chosen) == len(attrs):
            return None
        chosen = attrs[:len(chosen) + 1]
    else:
        return None
    phrases = [ph for _, _, ph in chosen]
    question = f"Name the customer that {', '.join(phrases[:-1])} and {phrases[-1]}."
    return Draft("constraint", question, name, "entity", {"entity_kind": "customer"},
                 {"type": "customer_match", "attrs": {a: v for a, v, _ in chosen}}, evidence)


def report(s: ToolSession, rng: random.Random) -> Draft | None:
    name, hit, p = _profile(s, rng)
    if hit is None:
        return None
    deals = [h for h in s.search(f"{name} deal", 10)
             if h.title.startswith("Deal ") and name in h.title][:4]
    notes = [h for h in s.search(f"{name} account status", 10) if "team sync" in h.title][:4]
    if not deals or not notes:
        return None
    # the most recent deal among those found (by creation date)
    dated = [(parse_date(f.get("created", "")), f.get("stage"), h)
             for h in deals for f in [X.fields(s.read(h.doc_id))]]
    dated = [x for x in dated if x[0]]
    if not dated:
        return None
    _, stage, deal = max(dated, key=lambda x: x[0])
    history = []  # (date, status) of this customer in every note read
    for h in notes:
        n = X.meeting_note(s.read(h.doc_id))
        history += [(n["date"], st, h.doc_id) for cust, st in n["statuses"]
                    if cust == name and n["date"]]
    if not history or not stage:
        return None
    latest = max(history, key=lambda x: x[0])
    facts = {"industry": p["industry"], "headquarters": p["hq"], "account owner": p["owner"],
             "latest deal stage": stage, "account status": latest[1]}
    # What contradicts each fact, as far as the explorer has read: older statuses of this
    # customer (stale), older deals' stages, and every other value of the class it has seen.
    seen = {k: sorted(v) for k, v in s.values.items()}
    older = {"account status": [st for d, st, _ in history if d < latest[0]],
             "latest deal stage": [st for d, st, h in dated if h is not deal and st]}
    classes = {"industry": "industry", "headquarters": "city", "account owner": "person",
               "latest deal stage": "stage", "account status": "status"}
    nuggets = [{"field": f, "kind": "text", "cls": classes[f], "values": [v],
                "wrong": [w for w in dict.fromkeys(older.get(f, []) + seen.get(classes[f], []))
                          if w != v], "refs": []}
               for f, v in facts.items()]
    context = {"text": [x for x in (p.get("region"), p.get("size"), *p.get("products", []))
                        if x] + list(facts.values()),
               "number": [x for x in (p.get("employees"), p.get("revenue")) if x]}
    question = (f"Prepare a brief on {name} covering its industry, headquarters, account "
                f"owner, most recent deal stage and current account status.")
    answer = f"Brief on {name}. " + " ".join(f"{f.capitalize()}: {v}." for f, v in facts.items())
    return Draft("report", question, answer, "report",
                 {"customer": name, "nuggets": nuggets, "vocab": seen, "context": context},
                 {"type": "customer_brief", "customer": name, "fields": facts},
                 [hit.doc_id, deal.doc_id, latest[2]])


def numeric(s: ToolSession, rng: random.Random) -> Draft | None:
    qw = f"Q{rng.randint(1, 4)} {rng.randint(2021, 2023)}"
    hits = [h for h in s.search(f"division quarterly financial statement {qw}", 10)
            if "quarterly financial statement" in h.title and qw in h.title]
    if not hits:
        return None
    hit = rng.choice(hits[:3])
    text = s.read(hit.doc_id)
    rows = [r for t in X.tables(text) for r in t if r.get("Segment") not in (None, "Total")]
    div = (re.match(r"(\S+) division", hit.title) or [None, None])[1]
    if not rows or not div:
        return None
    row = rng.choice(rows)
    scale = 1000.0 if "USD thousands" in text else 1.0
    quarter = f"{qw[-4:]}-{qw[:2]}"
    claim = {"type": "finance", "division": div, "segment": row["Segment"], "quarter": quarter}
    if rng.random() < 0.6:
        metric = rng.choice(sorted(METRICS))
        value = X.number(row[METRICS[metric]])
        if value is None:
            return None
        question = (f"According to the {div} division's financial statements, what "
                    f"{metric} did its {row['Segment']} segment report for {qw}? Give the "
                    f"figure in US dollars.")
        if rng.random() < STANDARD:
            question = (f"What was the {metric} of the {row['Segment']} segment of the {div} "
                        f"division in {qw}? Answer in US dollars.")
        return Draft("numeric", question, value * scale, "number",
                     {"kind": "money", "rel_tol": 0.01, "abs_tol": 0.0},
                     dict(claim, op="lookup", metric=metric), [hit.doc_id])
    inc, rev = X.number(row["Operating income"]), X.number(row["Revenue"])
    if inc is None or not rev:
        return None
    question = (f"What operating margin did the {row['Segment']} segment of the {div} division "
                f"achieve in {qw}, as a percentage of revenue?")
    return Draft("numeric", question, round(inc / rev * 100, 4), "number",
                 {"kind": "percent", "rel_tol": 0.01, "abs_tol": 0.05},
                 dict(claim, op="margin"), [hit.doc_id])


def exhaustive(s: ToolSession, rng: random.Random) -> Draft | None:
    if rng.random() < 0.5:
        hits = [h for h in s.search("team roster office start date", 20)
                if h.title.endswith("team roster")]
        if not hits:
            return None
        hit = rng.choice(hits)
        rows = [r for t in X.tables(s.read(hit.doc_id)) for r in t]
        if not rows:
            return None
        team = hit.title[: -len(" team roster")]
        office = rng.choice(rows)["Office"]
        names = sorted(r["Name"] for r in rows if r.get("Office") == office)
        question = f"Who on the {team} team works out of the {office} office? List every name."
        return Draft("exhaustive", question, names, "set", {"noun": "employees"},
                     {"type": "person_set", "team": team, "office": office}, [hit.doc_id])
    hits = s.search("customer directory page", 20)
    regions = sorted({m.group(1) for h in hits
                      if (m := re.match(r"Customer directory: (.+?) \(page", h.title))})
    if not regions:
        return None
    region = rng.choice(regions)
    pages: dict[str, str] = {}
    for h in hits + s.search(f"customer directory {region}", 10):
        if h.title.startswith(f"Customer directory: {region} (page"):
            pages[h.title] = h.doc_id
    rows = [r for d in pages.values() for t in X.tables(s.read(d)) for r in t]
    if not rows:
        return None
    industry = rng.choice(rows)["Industry"]
    names = sorted({r["Customer"] for r in rows if r.get("Industry") == industry})
    question = f"Which {region} customers are in the {industry} industry? List them all."
    return Draft("exhaustive", question, names, "set", {"noun": "customers"},
                 {"type": "customer_set", "region": region, "industry": industry},
                 list(pages.values()))


def procedure(s: ToolSession, rng: random.Random) -> Draft | None:
    word = rng.choice(("steps", "symptom", "raises", "applies", "restart", "snapshot"))
    hits = [h for h in s.search(f"runbook error {word}", 20) if "Runbook:" in h.title]
    hits = [h for h in hits if "[DEPRECATED]" not in h.title or rng.random() < 0.1]
    if not hits:
        return None
    hit = rng.choice(hits)
    m = re.search(r"Runbook: (\S+) error (E-\d+)", hit.title)
    secs = X.sections_with_steps(s.read(hit.doc_id))
    if not m or not secs:
        return None
    product, code = m.groups()
    label, steps = rng.choice(secs)
    versions = re.findall(r"\d+\.\d+", label)
    evidence = [hit.doc_id]
    if not versions:  # 'all versions' (or no scope at all): look the versions up
        over = _find(s, f"{product} product overview", lambda t: t.startswith(product))
        if over is None:
            return None
        versions = [r["Version"] for t in X.tables(s.read(over.doc_id)) for r in t
                    if "Version" in r]
        evidence.append(over.doc_id)
    if not versions:
        return None
    version = rng.choice(versions)
    expanded: list[str] = []
    for step in steps:  # follow references to shared procedures
        ref = re.match(r"Perform the .+? procedure \(see '(.+?)'\)", step)
        sub_hit = ref and _find(s, ref.group(1), lambda t, r=ref.group(1): t == r)
        sub_secs = X.sections_with_steps(s.read(sub_hit.doc_id)) if sub_hit else []
        if sub_secs:
            evidence.append(sub_hit.doc_id)
        expanded += sub_secs[0][1] if sub_secs else [step]
    steps = expanded
    prereq = rng.random() < 0.4
    extra = ""
    if prereq:
        pre = _find(s, f"{product} operations prerequisites", lambda t: "prerequisites" in t)
        pre_secs = X.sections_with_steps(s.read(pre.doc_id)) if pre else []
        if not pre_secs:
            return None
        steps = pre_secs[0][1] + steps
        evidence.append(pre.doc_id)
        extra = " Begin with the product's prerequisite checklist."
    question = f"Which steps, in order, resolve error {code} on {product} {version}?{extra}"
    msg = re.search(r"\((.+?)\)", hit.title)
    if msg and rng.random() < STANDARD:
        extra = " Start with the product's prerequisite steps." if prereq else ""
        question = (f"{product} {version} raises error {code} ({msg.group(1)}). What are the "
                    f"steps to resolve it, in order?{extra} Answer with one step per line.")
    return Draft("procedure", question, list(steps), "steps",
                 {"product": product, "version": version, "code": code},
                 {"type": "runbook", "product": product, "code": code, "version": version,
                  "prereq": prereq}, evidence)


def aggregate(s: ToolSession, rng: random.Random) -> Draft | None:
    if rng.random() < 0.5 or not s.teams:
        if not s.projects:
            hits = [h for h in s.search("team sync decisions project", 10) if "sync" in h.title]
            for h in hits[:2]:
                s.read(h.doc_id)
        if not s.projects:
            return None
        project = rng.choice(sorted(s.projects))
        field = rng.choice(("launch date", "budget", "project lead"))
        best = None
        for h in [h for h in s.search(f"{project} {field}", 10) if "team sync" in h.title][:3]:
            n = X.meeting_note(s.read(h.doc_id))
            for p, f, v in n["decisions"]:
                if p == project and f == field and n["date"] and (best is None or
                                                                  n["date"] > best[0]):
                    best = (n["date"], X.decision_value(f, v), h.doc_id)
        if best is None:
            return None
        kind = {"launch date": "date", "budget": "money", "project lead": "name"}[field]
        answer = int(best[1]) if kind == "money" and best[1].isdigit() else best[1]
        question = f"What is the most recently agreed {field} for {project}?"
        if rng.random() < STANDARD:
            question = (f"According to the meeting notes, what is the current {field} of "
                        f"{project}?")
        return Draft("aggregate", question,
                     answer, "value", {"kind": kind, "family": "latest"},
                     {"type": "project_field", "project": project, "field": field}, [best[2]])
    team = rng.choice(sorted(s.teams))
    found = {h.doc_id: h for q in (f"{team} team sync", f"{team} team sync action items")
             for h in s.search(q, 30) if h.title.startswith(f"{team} team sync")}
    notes = [(parse_date(h.title), h) for h in found.values()]
    notes = sorted(((d, h) for d, h in notes if d), key=lambda x: (x[0], x[1].doc_id))
    if not notes:
        return None
    pivot = rng.choice(notes)[0]
    quarter = f"Q{(pivot.month - 1) // 3 + 1} {pivot.year}"
    counts: dict[str, int] = {}
    evidence = []
    for d, h in notes:
        if f"Q{(d.month - 1) // 3 + 1} {d.year}" == quarter:
            evidence.append(h.doc_id)
            for owner, _ in X.meeting_note(s.read(h.doc_id))["actions"]:
                counts[owner] = counts.get(owner, 0) + 1
    if not counts:
        return None
    person = rng.choice(sorted(counts))
    question = f"How many action items did {person} receive in {team} team syncs during {quarter}?"
    return Draft("aggregate", question, counts[person], "value",
                 {"kind": "count", "family": "actions"},
                 {"type": "action_count", "team": team, "person": person,
                  "quarter": f"{pivot.year}-Q{(pivot.month - 1) // 3 + 1}"}, evidence)


WRITERS = {"constraint": constraint, "report": report, "numeric": numeric,
           "exhaustive": exhaustive, "procedure": procedure, "aggregate": aggregate}
