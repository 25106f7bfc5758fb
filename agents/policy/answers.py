"""Candidate answers: every way of answering the policy can build from what it has read.

Input: a `Memory` (question + parsed documents read so far). Output: `Draft`s, one per
candidate answer, of six kinds, each built by generic operations on document structure:
entity (a document's subject or a table row's key, with constraint coverage, multi-hop through
linked documents), brief (field and subject lines composed into prose; three selections),
number (table operations: cell, sum, growth, ratio over matched cells), set (rows / documents
matching the question's key phrases, strict or loose), steps (a numbered list, optionally
after another document's list) and value (latest decision, counts over notes).
Invariants: every extractor runs for every question (no regime is consulted, so a held-out
regime gets the same candidates as a trained one); drafts carry only generic evidence
statistics in `feats`; values are JSON-serialisable; total and deterministic.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .. import extract as X
from .memory import Memory
from .text import ParsedDoc, Question, words

KINDS = ("entity", "brief", "number", "set", "steps", "value", "fallback")
# Answer-format words that say which kind of answer is wanted. This table is how regime
# knowledge reaches the policy: as one shared feature ("the candidate's kind is one the
# format asks for"), learned on the training regimes and applied unchanged to held-out ones.
FORMAT_KINDS = {"entity": {"name", "entity"}, "brief": {"brief", "prose", "report"},
                "number": {"number", "amount", "figure"}, "set": {"list", "names", "ids"},
                "steps": {"steps", "ordered"}, "value": {"count", "date", "integer", "amount"},
                "fallback": set()}
_QUARTER = re.compile(r"\bQ([1-4]) (\d{4})\b")
_NAME = re.compile(r"^[A-Z][a-z]+ [A-Z][a-z]+$")


@dataclass
class Draft:
    kind: str
    value: Any
    variant: int = 0  # which construction of this kind (0-3), a feature
    feats: dict[str, float] = field(default_factory=dict)
    docs: tuple[str, ...] = ()  # evidence document ids


def frac(phrases: tuple[str, ...] | list[str], text_lower: str) -> float:
    return sum(p.lower() in text_lower for p in phrases) / len(phrases) if phrases else 0.0


def format_match(q: Question, kind: str) -> float:
    return float(bool(FORMAT_KINDS[kind] & q.fmt_words))


# -- entity --------------------------------------------------------------------------------
def entity_drafts(mem: Memory, cap: int = 6) -> list[Draft]:
    q, out = mem.question, {}
    qlow = q.text.lower()
    for d in mem.read:
        linked = " ".join(o.lower for o in mem.read if o is not d and (
            o.entity and o.entity in d.text or d.entity and d.entity in o.text))
        pairs = [(d.entity, d.lower, linked, d.stale)] if 0 < len(d.entity.split()) <= 5 else []
        for rows in d.tables:
            for r in rows:
                key = next(iter(r.values()), "")
                text = " ".join(r.values()).lower() + " " + d.title.lower()
                if key and frac(q.phrases, text) > 0:
                    pairs.append((key, text, "", d.stale))
        for name, own, extra, stale in pairs:
            cov, cov2 = frac(q.phrases, own), frac(q.phrases, own + " " + extra)
            k = name.lower()
            old = out.get(k)
            support = (old.feats["support"] if old else 0.0) + 1
            if old is None or (cov2, cov) > (old.feats["coverage_linked"], old.feats["coverage"]):
                out[k] = Draft("entity", name, 0, {
                    "coverage": cov, "coverage_linked": cov2, "all_covered": float(cov2 == 1.0),
                    "in_question": float(k in qlow), "stale": float(stale)}, (d.doc_id,))
            out[k].feats["support"] = support
    best = sorted(out.values(), key=lambda a: (-a.feats["coverage_linked"],
                                               -a.feats["coverage"], a.feats["stale"]))
    return best[:cap]


# -- brief ---------------------------------------------------------------------------------
def _subject(mem: Memory) -> str:
    counts = [(sum(d.mentions(p) for d in mem.read), len(p), p) for p in mem.question.phrases]
    best = max(counts, default=(0, 0, ""))
    return best[2] if best[0] else ""


def _lines(d: ParsedDoc, subject: str, content: set[str], focused: bool) -> list[str]:
    out = []
    for key, value in d.fields.items():
        if not focused or set(words(key)) & content:
            out.append(f"{key.capitalize()}: {value}")
    for part in re.split(r"(?<=[.!?])\s+|\n", d.text):
        part = part.strip().lstrip("-# ").strip()
        if subject in part and not part.startswith(d.title[:20]) and ":" not in part[:25]:
            if not focused or set(words(part)) & content:
                out.append(part[:220])
    return out


def _latest_per_type(docs: list[ParsedDoc]) -> list[ParsedDoc]:
    best: dict[tuple[str, ...], ParsedDoc] = {}
    for d in docs:
        if d.stale:
            continue
        o = best.get(d.type_words)
        if o is None or (d.date or date.min) > (o.date or date.min):
            best[d.type_words] = d
    return [d for d in docs if best.get(d.type_words) is d]


def brief_drafts(mem: Memory) -> list[Draft]:
    subject = _subject(mem)
    if not subject:
        return []
    content = set(mem.question.content) - set(words(subject))
    docs = [d for d in mem.read if d.mentions(subject)]
    out, seen = [], set()
    for v, (chosen, focused) in enumerate(((_latest_per_type(docs), True),
                                           (_latest_per_type(docs), False), (docs, True))):
        lines = list(dict.fromkeys(ln for d in chosen for ln in _lines(d, subject, content,
                                                                       focused)))
        text = (f"Brief on {subject}. " + " ".join(ln.rstrip(".") + "." for ln in lines))[:1500]
        if not lines or text in seen:
            continue
        seen.add(text)
        low = text.lower()
        out.append(Draft("brief", text, v, {
            "coverage": sum(w in low for w in content) / max(1, len(content)),
            "stale": float(any(d.stale for d in chosen)),
            "support": len(chosen)}, tuple(d.doc_id for d in chosen)))
    return out


# -- number --------------------------------------------------------------------------------
def _period(d: ParsedDoc) -> tuple[int, int]:
    m = _QUARTER.search(d.title)
    if m:
        return int(m.group(2)), int(m.group(1))
    return (d.date.year, (d.date.month - 1) // 3 + 1) if d.date else (0, 0)


def _column(headers: list[str], qlow: str) -> str:
    hits = [h for h in headers[1:] if h.lower() in qlow]
    return max(hits, key=len) if hits else ""


def number_drafts(mem: Memory) -> list[Draft]:
    q = mem.question
    qlow = q.text.lower()
    cells: dict[tuple[int, int], tuple[float, float | None, ParsedDoc]] = {}
    for d in mem.read:
        for rows in d.tables:
            if not rows:
                continue
            col = _column(list(rows[0]), qlow)
            first = list(rows[0])[0]
            row = next((r for r in rows if r.get(first) and r[first].lower() in qlow), None)
            if row is None:
                row = next((r for r in rows if r.get(first) == "Total"), None)
            if not col or row is None or (v := X.number(row.get(col, ""))) is None:
                continue
            rev = X.number(row.get("Revenue", "")) if "Revenue" in row else None
            p = _period(d)
            if p not in cells or (cells[p][2].stale and not d.stale):
                cells[p] = (v * d.scale, rev * d.scale if rev is not None else None, d)
    if not cells:
        return []
    periods = sorted(cells)
    year = q.period[-4:]
    match = sum(str(y) == year for y, _ in periods) / len(periods) if year else 0.0
    base = {"coverage": match, "support": float(len(periods)),
            "stale": float(any(cells[p][2].stale for p in periods))}
    out = []
    def add(variant: int, value: str, ps: list) -> None:
        out.append(Draft("number", value, variant, dict(base),
                         tuple(cells[p][2].doc_id for p in ps)))
    for p in periods[-3:]:
        add(0, f"${cells[p][0]:,.0f}", [p])
    vals = [cells[p][0] for p in periods]
    if len(periods) >= 2:
        add(1, f"${sum(vals):,.0f}", periods)
        half = len(vals) // 2
        a, b = sum(vals[:half]), sum(vals[half:])
        if a:
            add(2, f"{(b - a) / a * 100:.2f}%", periods)
    revs = [cells[p][1] for p in periods]
    if all(r for r in revs):
        add(3, f"{sum(vals) / sum(revs) * 100:.2f}%", periods)
    return out


# -- set -----------------------------------------------------------------------------------
def set_drafts(mem: Memory) -> list[Draft]:
    ph = mem.question.phrases
    if not ph:
        return []
    strict, loose, docs = [], [], []
    for d in mem.read:
        for rows in d.tables:
            for r in rows:
                key = next(iter(r.values()), "")
                n = sum(p.lower() in (" ".join(r.values()) + " " + d.title).lower() for p in ph)
                if key and n == len(ph):
                    strict.append(key)
                if key and n >= len(ph) - 1 and len(ph) >= 2:
                    loose.append(key)
        if d.entity and not d.stale and all(d.mentions(p) for p in ph):
            docs.append(d.entity)
    out, seen = [], set()
    for v, names in enumerate((strict, loose, docs, strict + docs)):
        names = list(dict.fromkeys(names))
        if names and tuple(names) not in seen:
            seen.add(tuple(names))
            out.append(Draft("set", names, v, {"support": float(len(names)),
                                              "coverage": 1.0 if v != 1 else 0.5}))
    return out


# -- steps ---------------------------------------------------------------------------------
def steps_drafts(mem: Memory, cap: int = 3) -> list[Draft]:
    q = mem.question
    scored = []
    for d in mem.read:
        for label, steps in d.lists:
            if len(steps) < 2:
                continue
            scope = X.version_in_scope(q.version, label) if q.version and label else None
            tf = frac(q.phrases, d.title.lower())
            scored.append(((scope is not False, tf, not d.stale), d, steps, scope, tf))
    scored.sort(key=lambda s: s[0], reverse=True)
    out = []
    for _, d, steps, scope, tf in scored[:cap]:
        feats = {"coverage": tf, "qualifier": {True: 1.0, False: -1.0, None: 0.0}[scope],
                 "stale": float(d.stale), "support": float(len(steps))}
        out.append(Draft("steps", list(steps), 0, feats, (d.doc_id,)))
    if scored:
        _, best, steps, scope, tf = scored[0]
        content = set(q.content)
        for d in mem.read:
            if d is not best and d.lists and set(words(d.title)) & content - set(
                    words(" ".join(q.phrases))):
                feats = {"coverage": tf, "qualifier": {True: 1.0, False: -1.0, None: 0.0}[scope],
                         "stale": float(d.stale or best.stale), "support": 2.0}
                out.append(Draft("steps", list(d.lists[0][1]) + list(steps), 1, feats,
                                 (d.doc_id, best.doc_id)))
                break
    return out


# -- value ---------------------------------------------------------------------------------
def _in_period(d: ParsedDoc, period: str) -> bool:
    if not d.date or not period:
        return False
    return period == str(d.date.year) or period == f"Q{(d.date.month - 1) // 3 + 1} {d.date.year}"


def value_drafts(mem: Memory) -> list[Draft]:
    q = mem.question
    qlow = q.text.lower()
    found = []
    for d in mem.read:
        for project, fld, value in d.note["decisions"]:
            if project.lower() in qlow and fld in qlow and d.date:
                found.append((d.date, X.decision_value(fld, value), d.doc_id))
    out = []
    if found:
        found.sort()
        out.append(Draft("value", found[-1][1], 0, {"support": float(len(found))},
                         (found[-1][2],)))
        if found[0][1] != found[-1][1]:
            out.append(Draft("value", found[0][1], 1, {"support": float(len(found))},
                             (found[0][2],)))
    people = [p for p in q.phrases if _NAME.match(p)]
    notes = [d for d in mem.read if d.date and (d.note["actions"] or d.note["cancelled"])]
    if people and notes:
        p = people[0]
        inside = [d for d in notes if _in_period(d, q.period)]
        given = sum(o == p for d in inside for o, _ in d.note["actions"])
        taken = sum(o == p for d in inside for o, _ in d.note["cancelled"])
        ids = tuple(d.doc_id for d in inside)
        out.append(Draft("value", str(given), 2, {"support": float(len(inside))}, ids))
        if taken:
            out.append(Draft("value", str(max(0, given - taken)), 3,
                             {"support": float(len(inside))}, ids))
    quoted = [p for p in q.phrases if p.lower() in qlow and f"'{p.lower()}'" in qlow]
    if quoted:
        latest: dict[str, tuple] = {}
        for d in sorted((d for d in mem.read if d.date), key=lambda d: d.date):
            for cust, st in d.note["statuses"]:
                latest[cust] = (d.date, st)
        if latest:
            n = sum(st == quoted[0] for _, st in latest.values())
            out.append(Draft("value", str(n), 3, {"support": float(len(latest))}))
    return out


EXTRACTORS = (entity_drafts, brief_drafts, number_drafts, set_drafts, steps_drafts,
              value_drafts)


def answer_drafts(mem: Memory) -> list[Draft]:
    """All candidate answers, de-duplicated by value; a fallback when nothing was read."""
    out, seen = [], set()
    for extract in EXTRACTORS:
        for a in extract(mem):
            key = repr(a.value)
            if key not in seen:
                seen.add(key)
                out.append(a)
    if not out:
        top = min(mem.hits.values(), key=lambda h: (h.rank, h.doc_id), default=None)
        out.append(Draft("fallback", top.title if top else "unknown", 0, {}))
    return out
