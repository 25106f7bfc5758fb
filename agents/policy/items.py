"""Working memory: the items a policy extracts from what it read and composes from them.

Input: a parsed document (`text.ParsedDoc`) and the analysed question, or items already in
memory. Output: `Item`s. `extractable(doc, q)` lists every unit a document offers (its
subject, a table row's key, a field, a table cell, the keys of the rows that match the
question's phrases, a numbered list, a person mention, the dated facts of a note, and those
of its facts whose subject the question names); `compose` applies one generic operation to
memory items (union, intersection, filter, sum, difference, ratio, growth, count,
latest-by-date, order, expand, join into prose, select the entities whose source covers every
key phrase); `render` turns an item into an answer.
Invariants: nothing here knows which kind of question asked (no regime, no answer format,
no mapping from question words to operations): every unit is offered for every document and
every operation for every item of a type it accepts; which one answers a question is the
policy's choice, learned from features. Pure, total and deterministic; values are
JSON-serialisable once rendered.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from .. import extract as X
from .text import ParsedDoc, Question, words

KINDS = ("entity", "span", "number", "set", "steps", "facts", "text")
# How an item was made: an extraction unit or a composition operation.
EXTRACTS = ("subject", "row key", "field", "cell", "rows all", "rows most", "list",
            "mention", "facts", "named facts")
OPS = ("union", "intersect", "filter", "sum", "difference", "ratio", "growth", "count",
       "latest", "latest each", "order", "expand", "join", "select")
# A one-line description of each operation, as a library's documentation would give it (what
# the operation does, in its own words, not the benchmark's question wording: the first
# version borrowed words from the question templates -- "status", "brief cover write short",
# "steps in order", "by what percent ... from to" -- a hand-written prior; RESULTS.md measures
# both). The policy sees only the word overlap between a description and the question (a
# feature whose weight it learns), never a rule that picks an operation.
OP_GLOSS = {
    "union": "combine items into one list",
    "intersect": "items present in both",
    "filter": "keep items matching a condition",
    "sum": "total of numbers added",
    "difference": "subtract one from another, or items in one but not the other",
    "ratio": "one number divided by another, as a percentage",
    "growth": "relative change between two numbers, as a percentage",
    "count": "number of items",
    "latest": "most recent value by date",
    "latest each": "most recent value for each subject",
    "order": "concatenate two step lists in sequence",
    "expand": "replace a step that names another list with that list's steps",
    "join": "combine facts into a text summary",
    "select": "the items whose source mentions every key term of the query",
}
_QUARTER = re.compile(r"\bQ([1-4]) (\d{4})\b")
# the dated facts of a note whose subject the question names, as a unit of their own
# (AGENTS_POLICY_NAMED_FACTS=0: off; read at import, so forked workers inherit it)
NAMED_FACTS = os.environ.get("AGENTS_POLICY_NAMED_FACTS", "1") != "0"
# a concatenation or splice of step lists that would repeat a step is no item (trained policies
# chained `order` over its own results and answered lists with every step twice or more;
# AGENTS_POLICY_NO_REPEAT=0: allowed, as before)
NO_REPEAT = os.environ.get("AGENTS_POLICY_NO_REPEAT", "1") != "0"


class _Key:
    """A hashable key whose hash is computed once (a tuple's is recomputed at every lookup)."""
    __slots__ = ("t", "h")

    def __init__(self, t: tuple) -> None:
        self.t, self.h = t, hash(t)

    def __hash__(self) -> int:
        return self.h

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.h == other.h and self.t == other.t


def _all_str(v: tuple) -> bool:
    return set(map(type, v)) <= {str}  # (in C: long step lists are checked often)


@lru_cache(maxsize=65536)
def _repr_len(s: str) -> int:
    return len(repr(s))


@dataclass(frozen=True)
class Item:
    kind: str
    value: Any  # str | float | tuple[str, ...]
    label: str  # what it is: a field or column name, row key, list scope, the doc's kind
    context: str  # lower-case text it came with (row + title, or the document head)
    docs: tuple[str, ...]
    when: tuple[int, int] | None  # (year, quarter) of its document, if dated
    stale: bool
    how: str  # the extraction unit or operation that made it
    unit: str = ""  # "%" for percentages
    scope: float = 0.0  # 1 in the question's version scope, -1 out of it, 0 unknown
    day: int = 0  # the document's date as an ordinal (0: undated)

    def __hash__(self) -> int:  # kept by @dataclass: the generated hash, computed once
        return self._hash

    @cached_property
    def _hash(self) -> int:
        return hash((self.kind, self.value, self.label, self.context, self.docs, self.when,
                     self.stale, self.how, self.unit, self.scope, self.day))

    @cached_property  # composed step lists grow long: computed once per item
    def key(self) -> "_Key":
        """What makes two items the same: equal exactly when (kind, how, repr(value)) are
        equal (a tuple of strings is compared as itself, which is equivalent and costs no
        repr of a long step list; anything else by its repr, so 0.0 and -0.0 stay apart)."""
        v = self.value
        if not (isinstance(v, str) or (isinstance(v, tuple) and _all_str(v))):
            v = ("repr", repr(v))
        return _Key((self.kind, self.how, type(self.value).__name__, v))

    @cached_property
    def text_len(self) -> int:
        """len(str(value)), once per item (a tuple of strings is measured from its items'
        cached repr lengths, without building the string)."""
        v = self.value
        if isinstance(v, tuple) and v and _all_str(v):
            # str(tuple) = "(" + ", ".join(map(repr, v)) + ("," if len(v) == 1) + ")"
            return 2 + sum(map(_repr_len, v)) + 2 * (len(v) - 1) + (len(v) == 1)
        return len(str(v))

    @property
    def parts(self) -> int:
        return len(self.value) if isinstance(self.value, tuple) else 1


def _when(d: ParsedDoc) -> tuple[int, int] | None:
    m = _QUARTER.search(d.title)
    if m:
        return int(m.group(2)), int(m.group(1))
    return (d.date.year, (d.date.month - 1) // 3 + 1) if d.date else None


def _phrase_hits(q: Question, text: str) -> int:
    return sum(p.lower() in text for p in q.phrases)


def extractable(d: ParsedDoc, q: Question) -> list[Item]:
    """Every unit document `d` offers, in document order."""
    when, day = _when(d), (d.date.toordinal() if d.date else 0)
    head = d.lower[:600]
    kind_words = " ".join(d.type_words)
    base = dict(docs=(d.doc_id,), when=when, stale=d.stale, day=day)
    out: list[Item] = []
    if d.entity and len(d.entity.split()) <= 5:
        out.append(Item("entity", d.entity, kind_words, d.lower, how="subject", **base))
    for key, value in d.fields.items():
        out.append(Item("span", value, key, head, how="field", **base))
    for rows in d.tables:
        if not rows:
            continue
        headers = list(rows[0])
        title = d.title.lower()
        strict, most = [], []
        for r in rows:
            rk = r.get(headers[0], "")
            text = " ".join(r.values()).lower() + " " + title
            hits = _phrase_hits(q, text)
            if rk and hits:
                out.append(Item("entity", rk, headers[0], text, how="row key", **base))
            if rk and q.phrases and hits == len(q.phrases):
                strict.append(rk)
            if rk and len(q.phrases) >= 2 and hits >= len(q.phrases) - 1:
                most.append(rk)
            for h in headers[1:]:
                v = X.number(r.get(h, ""))
                if v is not None and re.search(r"\d", r.get(h, "")):
                    out.append(Item("number", v * d.scale, f"{rk} | {h}", text, how="cell",
                                    **base))
        label = " ".join(headers)
        if strict:
            out.append(Item("set", tuple(dict.fromkeys(strict)), label, title, how="rows all",
                            **base))
        if most and most != strict:
            out.append(Item("set", tuple(dict.fromkeys(most)), label, title, how="rows most",
                            **base))
    for label, steps in d.lists:
        if len(steps) >= 2:
            scope = X.version_in_scope(q.version, label) if q.version and label else None
            out.append(Item("steps", tuple(steps), f"{label} {d.title}".strip(), d.lower[:300],
                            how="list", scope={True: 1.0, False: -1.0, None: 0.0}[scope],
                            **base))
    for n in d.names[:4]:
        out.append(Item("entity", n, "mention", d.lower, how="mention", **base))
    note = d.note or {}
    stamp = d.date.isoformat() if d.date else ""
    every: list[tuple[str, str, str]] = []
    for name, rows in (("decision", [(p, f, X.decision_value(f, v)) for p, f, v in
                                     note.get("decisions", [])]),
                       ("action", [(o, "action", t) for o, t in note.get("actions", [])]),
                       ("cancelled", [(o, "cancelled", t) for o, t in note.get("cancelled", [])]),
                       ("status", [(c, "status", s) for c, s in note.get("statuses", [])])):
        if rows:
            facts = tuple(f"{stamp}|{s}|{a}|{v}" for s, a, v in rows)
            out.append(Item("facts", facts, f"{name} {d.title}", head, how="facts", **base))
            every += rows
    if NAMED_FACTS and q.phrases:
        # the note's dated facts about something the question names (their subject holds a
        # key phrase), labelled by those subjects and attributes: the unit a question about
        # one project, customer or person needs, whatever the note's title says
        named = [(s, a, v) for s, a, v in every if any(p.lower() in s.lower() for p in q.phrases)]
        if named:
            facts = tuple(dict.fromkeys(f"{stamp}|{s}|{a}|{v}" for s, a, v in named))
            label = " ".join(dict.fromkeys([s for s, _, _ in named] + [a for _, a, _ in named]))
            out.append(Item("facts", facts, label, " ".join(facts).lower(), how="named facts",
                            **base))
    return out


# -- composition ---------------------------------------------------------------------------
def _fact(f: str) -> tuple[str, str, str, str]:
    parts = f.split("|", 3)
    return tuple(parts + [""] * (4 - len(parts)))  # type: ignore[return-value]


def _merge(items: list[Item], **kw: Any) -> dict:
    """Provenance of a composed item: every source's documents, the latest date."""
    docs = tuple(dict.fromkeys(d for i in items for d in i.docs))
    whens = [i.when for i in items if i.when]
    return dict(docs=docs, when=max(whens) if whens else None,
                stale=any(i.stale for i in items), day=max(i.day for i in items), **kw)


def _column(label: str) -> str:
    return label.split(" | ")[-1]


def _in_period(fact_date: str, period: str) -> bool:
    if not period or not fact_date:
        return False
    y, m = int(fact_date[:4]), int(fact_date[5:7])
    return period == str(y) or period == f"Q{(m - 1) // 3 + 1} {y}"


def compose(op: str, items: list[Item], q: Question) -> Item | None:
    """The item `op` makes of `items` (None when it does not apply)."""
    a = items[0]
    ctx = " ".join(i.context[:200] for i in items)
    qlow = q.text.lower()
    if op in ("union", "intersect"):
        vals = [i.value if isinstance(i.value, tuple) else (i.value,) for i in items]
        if op == "union":
            out = tuple(dict.fromkeys(v for vs in vals for v in vs))
        else:
            out = tuple(v for v in vals[0] if all(v in vs for vs in vals[1:]))
        kind = "facts" if all(i.kind == "facts" for i in items) else "set"
        return Item(kind, out, a.label, ctx, how=op, **_merge(items)) if out else None
    if op == "filter":
        if a.kind == "facts":
            keep = tuple(f for f in a.value if _in_period(_fact(f)[0], q.period) or any(
                p.lower() in f.lower() for p in q.phrases if p != q.period))
        else:
            keep = tuple(v for v in a.value if any(p.lower() in str(v).lower()
                                                   for p in q.phrases))
        if not keep or len(keep) == len(a.value):
            return None
        return Item(a.kind, keep, a.label, ctx, how=op, **_merge(items))
    if op == "select":
        # every source covers the question's phrases: the first one's whole text says so
        out = tuple(dict.fromkeys(str(i.value) for i in items))
        return Item("set", out, a.label, f"{a.context} {ctx}", how=op,
                    **_merge(items)) if out else None
    if op == "count":
        return Item("number", float(a.parts), a.label, ctx, how=op, **_merge(items))
    if op == "latest":
        facts = [_fact(f) for i in items for f in i.value]
        rel = [f for f in facts if f[1].lower() in qlow and
               set(words(f[2])) & set(q.content)]
        if not rel:
            return None
        best = max(rel, key=lambda f: f[0])
        return Item("span", best[3], best[2], ctx, how=op, **_merge(items))
    if op == "latest each":
        latest: dict[str, tuple] = {}
        for f in sorted((_fact(f) for i in items for f in i.value), key=lambda f: f[0]):
            latest[f[1]] = f
        out = tuple(f"{f[0]}|{f[1]}|{f[2]}|{f[3]}" for f in latest.values())
        return Item("facts", out, a.label, ctx, how=op, **_merge(items)) if out else None
    if op == "sum":
        return Item("number", float(sum(i.value for i in items)), _column(a.label), ctx,
                    how=op, **_merge(items))
    if op == "difference" and a.kind in ("set", "facts"):
        gone = {(_fact(f)[1], _fact(f)[3]) if a.kind == "facts" else f
                for f in items[1].value}
        keep = tuple(f for f in a.value if ((_fact(f)[1], _fact(f)[3]) if a.kind == "facts"
                                             else f) not in gone)
        if not keep or len(keep) == len(a.value):  # an empty list answers nothing
            return None
        return Item(a.kind, keep, a.label, ctx, how=op, **_merge(items))
    if op in ("difference", "ratio", "growth"):
        x, y = items[0].value, items[1].value
        if op == "difference":
            v = y - x
        elif op == "ratio":
            if not y:
                return None
            v = x / y * 100.0
        else:
            if not x:
                return None
            v = (y - x) / abs(x) * 100.0
        return Item("number", float(v), f"{items[0].label} ~ {items[1].label}", ctx, how=op,
                    unit="" if op == "difference" else "%", **_merge(items))
    if op == "order":
        if NO_REPEAT and set(a.value) & set(items[1].value):
            return None  # a step of one list in the other: the sequence would repeat it
        return Item("steps", tuple(a.value) + tuple(items[1].value), a.label, ctx, how=op,
                    scope=min(i.scope for i in items), **_merge(items))
    if op == "expand":
        inner = items[1]
        name = set(words(inner.label)) - set(words(a.label))
        if not name:
            return None
        need = min(2, len(name))
        for k, s in enumerate(a.value):  # the first step that names the inner list
            if len(name & set(words(s))) >= need:
                if NO_REPEAT and set(inner.value) & set(a.value[:k] + a.value[k + 1:]):
                    return None  # the spliced list repeats a step the outer list has
                out = a.value[:k] + tuple(inner.value) + a.value[k + 1:]
                return Item("steps", out, a.label, ctx, how=op, scope=a.scope,
                            **_merge(items))
        return None
    if op == "join":
        subject = max(q.phrases, key=lambda p: (sum(p.lower() in i.context for i in items),
                                                len(p)), default="")
        lines = [f"{i.label.capitalize()}: {i.value}" for i in items]
        text = (f"Brief on {subject}. " if subject else "") + " ".join(
            ln.rstrip(".") + "." for ln in lines)
        return Item("text", text[:1500], " ".join(i.label for i in items), ctx, how=op,
                    **_merge(items))
    raise ValueError(f"unknown operation {op!r}")


def render(item: Item) -> Any:
    """The item as an answer value."""
    if item.kind in ("set", "steps"):
        return list(item.value)
    if item.kind == "facts":
        return [_fact(f)[3] or _fact(f)[1] for f in item.value]
    if item.kind == "number":
        v = item.value
        if item.unit == "%":
            return f"{v:.4f}%"
        return str(int(round(v))) if abs(v - round(v)) < 1e-9 else f"{v:.4f}"
    return str(item.value)

