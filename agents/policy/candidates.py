"""Candidate actions for one decision: search, read, extract, compose, answer.

Input: a `Memory`. Output: `Candidate`s (an env action or a working-memory action, plus
generic descriptors that `features` turns into numbers). Queries come from the question
(whole, key phrases only, one key phrase with the question's content words, the phrases no
read document covers yet) and from names and values seen in read documents (a "hop"); reads
are the unread hits, latest search first; extracts are units of read documents not yet in
working memory (`items.extractable`); composes are generic operations over memory items
(`items.compose`); answers are memory items (`items.render`). The `AUTO` units of each read
document most relevant to the question enter working memory without a decision
(`auto_extract`); compose candidates are ranked by that relevance, operations round-robin
(`_diverse`), pairs of numbers taken from the most relevant and the newest amounts; answer
candidates are the newest items and the older ones most relevant to the question.
Invariants: the same generators run for every question, whatever asked it (nothing here, or
anywhere in `agents/policy`, knows the regime or reads the answer-format line); no query is
issued twice; a read needs an unread hit; an answer needs a memory item (a fallback answer
only when memory is empty); extract and compose do not call a tool and are capped
(MAX_INTERNAL per episode, MAX_RUN between two tool calls); on the last step only extract,
compose and answer are offered, so every episode ends with an answer the policy chose.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

from .items import OP_GLOSS, Item, compose, extractable, render
from .memory import Memory
from .text import Question, analyse, type_words, words

# operation descriptions in the label overlap (`_item_words`); AGENTS_POLICY_DESCRIBE=0 turns
# them off (the ablation of RESULTS.md; read at import, so forked workers inherit it)
DESCRIBE = os.environ.get("AGENTS_POLICY_DESCRIBE", "1") != "0"
# compose and answer candidates ranked by relevance to the question, operations kept diverse
# (AGENTS_POLICY_RANKED=0: the newest material only, as before; RESULTS.md compares them)
RANKED = os.environ.get("AGENTS_POLICY_RANKED", "1") != "0"
# units of each document read that go into working memory without an extract decision: the
# AUTO most relevant to the question (AGENTS_POLICY_AUTO=0: none, every unit is a decision;
# RESULTS.md measures 0, 2 and 3)
AUTO = int(os.environ.get("AGENTS_POLICY_AUTO", "2"))
# the `select` composition: memory entities whose source covers every key phrase. Off by
# default (AGENTS_POLICY_SELECT=1 offers it): policies trained on single-name questions never
# answered it on list questions, and it did not raise their scores (RESULTS.md, 2026-12-06 night)
SELECT = os.environ.get("AGENTS_POLICY_SELECT", "0") == "1"
# AGENTS_POLICY_FIRST_ORDER=1: differences, ratios and growths are not composed further, nor
# are sums added again (trained policies chained differences of differences, six per step,
# until the newest items, half of the answer candidates, were all such numbers). Off by
# default: over 3 seeds it changed no answer to a question about a figure and lowered the
# held-out mean by 0.003-0.005 per seed (RESULTS.md, 2026-12-07)
FIRST_ORDER = os.environ.get("AGENTS_POLICY_FIRST_ORDER", "0") == "1"
# AGENTS_POLICY_CARDINALITY=1: each item's descriptors also carry its cardinality (one, few,
# many values), crossed with the question's words like the others, so that how many values
# an answer should hold can be learned from the question text (issue #16, RESULTS.md
# 2026-12-07 late night). Off by default: it did not win (measured there).
CARDINALITY = os.environ.get("AGENTS_POLICY_CARDINALITY", "0") == "1"
DERIVED = ("difference", "ratio", "growth")
MAX_QUERIES = 6
MAX_READS = 6
MAX_EXTRACTS = 8
MAX_COMPOSES = 8
MAX_ANSWERS = 8
MAX_INTERNAL = 24
MAX_RUN = 6
SEARCH_K = 10
STALE_TITLE = ("[archived]", "[deprecated]", "preliminary")


@dataclass
class Candidate:
    action: dict
    tool: str  # search | read | answer
    sub: str  # query source, document type, or answer kind
    variant: int = 0
    feats: dict[str, float] = field(default_factory=dict)
    tokens: tuple[str, ...] = ()  # descriptors crossed with the question's words (hashed)
    item: Item | None = None  # extract / compose: the item it adds; answer: the item given


def frac(phrases: tuple[str, ...] | list[str], text_lower: str) -> float:
    return sum(p.lower() in text_lower for p in phrases) / len(phrases) if phrases else 0.0


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def search_candidates(mem: Memory) -> list[Candidate]:
    q = mem.question
    phrase_words = set(words(" ".join(q.phrases)))
    plain = [w for w in q.content if w not in phrase_words]
    read_text = " ".join(d.lower for d in mem.read)
    missing = [w for w in plain if w not in read_text]
    uncovered = [p for p in q.phrases if p.lower() not in read_text]
    proposals: list[tuple[str, str]] = [(q.core, "question"), (" ".join(q.phrases), "phrases")]
    if mem.read and uncovered:
        proposals.append((" ".join(uncovered + missing[:3]), "uncovered"))
    for p in q.phrases[:4]:
        proposals.append((f"{p} {' '.join(plain[:3])}", "phrase"))
    qlow = q.text.lower()
    hops = [n for d in reversed(mem.read[-2:]) for n in d.names[:3] + [
        v for v in d.fields.values() if len(v.split()) == 2 and v.istitle()]
        if n.lower() not in qlow]
    hops += [str(i.value) for i in reversed(mem.items[-4:]) if i.kind == "entity" and
             str(i.value).lower() not in qlow]
    for n in list(dict.fromkeys(hops))[:3]:
        proposals.append((f"{n} {' '.join((missing or plain)[:3])}", "hop"))
    previous = [set(words(x)) for x in mem.queries]
    out: list[Candidate] = []
    for text, sub in proposals:
        text = " ".join(text.split())[:200]
        if not words(text) or text in mem.queries or any(c.action["query"] == text for c in out):
            continue
        ws = set(words(text))
        out.append(Candidate(
            {"tool": "search", "query": text, "k": SEARCH_K}, "search", sub, 0,
            {"q_phrase_frac": frac(q.phrases, text.lower()),
             "q_novelty": 1.0 - max((_jaccard(ws, p) for p in previous), default=0.0),
             "q_len": min(len(ws), 20) / 10.0},
            ("search", f"search:{sub}")))
    return out[:MAX_QUERIES]


def read_candidates(mem: Memory) -> list[Candidate]:
    q = mem.question
    seen_entities = {d.entity.lower() for d in mem.read if d.entity}
    qlow = q.text.lower()
    hop_names = {n.lower() for d in mem.read for n in d.names[:3] if n.lower() not in qlow}
    last = len(mem.queries) - 1
    out = []
    for h in mem.unread_hits()[:MAX_READS]:
        tl, sl = h.title.lower(), h.snippet.lower()
        kind = " ".join(type_words(h.title))
        out.append(Candidate(
            {"tool": "read", "doc_id": h.doc_id}, "read", kind, 0,
            {"r_rank_inv": 1.0 / (1 + h.rank), "r_rel_score": h.rel_score,
             "r_title_phrases": frac(q.phrases, tl), "r_snippet_phrases": frac(q.phrases, sl),
             "r_words": sum(w in tl or w in sl for w in q.content) / max(1, len(q.content)),
             "r_latest": float(h.search == last),
             "r_stale": float(any(m in tl for m in STALE_TITLE)),
             "r_hop": float(any(n in tl for n in hop_names)),
             "r_entity_seen": float(any(e and e in tl for e in seen_entities))},
            ("read", f"read:{kind}")))
    return out


@lru_cache(maxsize=4096)
def _plain(text: str) -> frozenset[str]:
    """The question's content words that are not part of a key phrase (a name, a code, a
    period): what it asks for rather than whom or when it asks about."""
    q = analyse(text)
    return frozenset(q.content) - frozenset(words(" ".join(q.phrases)))


@lru_cache(maxsize=4096)
def _qwords(text: str) -> frozenset[str]:
    return frozenset(words(text))


@lru_cache(maxsize=16384)
def _label_words(label: str) -> frozenset[str]:
    # composed items' labels join their sources' labels, so they can be long: parse once
    return frozenset(words(label))


@lru_cache(maxsize=16384)
def _item_words(label: str, how: str) -> frozenset[str]:
    """What an item is, in words: its label's, and for a composed item the words of the
    operation's one-line description (`OP_GLOSS`). Label overlap with the question is learned
    on every training question, so its weight carries over to an operation whose description
    says what a held-out question asks ("total", "percentage", "number of items")."""
    lw = _label_words(label)
    return lw | _label_words(OP_GLOSS[how]) if DESCRIBE and how in OP_GLOSS else lw


def _overlap(lw: frozenset[str], q_words: set[str]) -> tuple[float, float]:
    if not lw or not q_words:
        return 0.0, 0.0
    n = len(lw & q_words)
    return n / len(lw), n / len(q_words)


def item_feats(mem: Memory, it: Item) -> dict[str, float]:
    """Generic statistics of a working-memory item against the question (a fresh dict: the
    caller may add to it). All but `i_newest` depend only on the question and the item, so
    they are computed once per episode and item (`Memory.feats`)."""
    f = mem.feats.get(it)
    if f is None:
        f = mem.feats[it] = _static_feats(mem.question, it)
    return dict(f, i_newest=newest(mem, it))


def newest(mem: Memory, it: Item) -> float:
    """1 if the item's document is at least as recent as every dated memory item."""
    return float(bool(it.day) and it.day >= mem.max_day)


def _static_feats(q: Question, it: Item) -> dict[str, float]:
    qw = _qwords(q.text)
    lw = _item_words(it.label, it.how)
    lq, ql = _overlap(lw, qw)
    val = str(it.value).lower() if not isinstance(it.value, tuple) else ""
    period = q.period
    pm = 0.0
    if it.when and period:
        y, qq = it.when
        pm = float(period == str(y) or period == f"Q{qq} {y}")
    vw = set(words(val)) if val else set()  # an answer the question already says is rarely one
    plain = _plain(q.text)
    return {"i_label_q": lq, "i_q_label": ql, "i_cov": frac(q.phrases, it.context),
            "i_echo": len(vw & qw) / len(vw) if vw else 0.0,
            "i_label_plain": len(lw & plain) / len(lw) if lw else 0.0,
            "i_in_question": float(bool(val) and val in q.text.lower()),
            "i_stale": float(it.stale), "i_scope": it.scope, "i_period": pm,
            "i_parts": min(it.parts, 30) / 10.0, "i_docs": min(len(it.docs), 8) / 4.0,
            "i_percent": float(it.unit == "%"),
            "i_gloss": _gloss(it.how, qw)}


def _gloss(how: str, qw: set[str]) -> float:
    g = set(OP_GLOSS.get(how, "").split())
    return len(g & qw) / 3.0 if g else 0.0


def _tokens(tool: str, it: Item) -> tuple[str, ...]:
    base = (tool, f"{tool}:{it.kind}", f"{tool}:{it.how}", f"{tool}:{it.kind}:{it.how}")
    return base + (f"{tool}:n:{_cardinality(it)}",) if CARDINALITY else base


def _cardinality(it: Item) -> str:
    """How many values the item holds, coarsely: one, a few (2-4) or many (5 or more)."""
    n = it.parts
    return "one" if n <= 1 else "few" if n <= 4 else "many"


def extract_candidates(mem: Memory) -> list[Candidate]:
    q = mem.question
    units: list[tuple[float, int, Item]] = []
    order = 0
    for d in reversed(mem.read):
        if d.doc_id not in mem.units:
            mem.units[d.doc_id] = [(it, item_feats(mem, it)) for it in extractable(d, q)]
        for it, f in mem.units[d.doc_id]:
            if it.key in mem.item_keys:
                continue
            units.append((-(f["i_q_label"] + f["i_label_q"] + f["i_cov"] + f["i_period"]
                            - f["i_stale"]), order, it, f))
            order += 1
    units.sort(key=lambda u: (u[0], u[1]))
    out = []
    for _, _, it, f in units[:MAX_EXTRACTS]:
        f = dict(f, i_newest=newest(mem, it))
        out.append(Candidate({"tool": "extract"}, "extract", it.how, 0, f,
                             _tokens("extract", it), it))
    return out


def _pairs(xs: list[Item]) -> list[tuple[Item, Item]]:
    return [(a, b) for i, a in enumerate(xs) for b in xs[i + 1:]]


def compose_candidates(mem: Memory) -> list[Candidate]:
    q = mem.question
    items = mem.items
    tries: list[tuple[str, list[Item]]] = []
    by_kind: dict[str, list[Item]] = {}
    for it in items:
        by_kind.setdefault(it.kind, []).append(it)
    listy = [i for i in items if i.kind in ("set", "facts", "entity")]
    groups: dict[tuple[str, str], list[Item]] = {}
    for it in listy:
        groups.setdefault(("set" if it.kind == "entity" else it.kind, it.how), []).append(it)
    for g in groups.values():
        if len(g) >= 2:
            tries.append(("union", g))
    for a, b in _pairs([i for i in listy if i.kind != "entity"][-4:]):
        tries.append(("intersect", [a, b]))
        tries.append(("difference", [a, b]))
        tries.append(("difference", [b, a]))
    if SELECT and q.phrases:
        # the entities that documents or table rows are about (not the ones they merely
        # mention) whose source text mentions every key phrase of the question
        match = [i for i in by_kind.get("entity", []) if i.how in ("subject", "row key")
                 and not i.stale and all(p.lower() in i.context for p in q.phrases)]
        if match:
            tries.append(("select", match))
    for it in by_kind.get("set", []) + by_kind.get("facts", []):
        tries.append(("filter", [it]))
    for it in by_kind.get("set", []) + by_kind.get("facts", []) + by_kind.get("steps", []):
        tries.append(("count", [it]))
    facts = by_kind.get("facts", [])
    if facts:
        tries.append(("latest", facts))
        tries.append(("latest each", facts))
    nums = by_kind.get("number", [])
    if FIRST_ORDER:  # a difference, ratio or growth is an answer, not an operand of another
        nums = [i for i in nums if i.how not in DERIVED]
    addends = [i for i in nums if i.how != "sum"] if FIRST_ORDER else nums  # no sums of sums
    cols: dict[str, list[Item]] = {}
    for it in addends:
        cols.setdefault(it.label.split(" | ")[-1], []).append(it)
    for g in cols.values():
        if RANKED:  # a sum adds numbers of one unit (not a percentage to an amount)
            g = [i for i in g if i.unit == g[-1].unit]
        if len(g) >= 2:
            tries.append(("sum", g))
    labels: dict[str, list[Item]] = {}
    for it in addends:  # one row and column across documents (e.g. the quarters of a year)
        labels.setdefault(it.label, []).append(it)
    for g in labels.values() if RANKED else ():
        if len(g) >= 2 and len({i.docs for i in g}) == len(g):
            tries.append(("sum", g))
    recent = nums[-4:]
    if RANKED:  # the newest numbers and the ones most relevant to the question
        top = sorted(nums, key=lambda i: -_item_relevance(mem, i))[:3]
        recent = list(dict.fromkeys(top + nums[-3:]))
    for a, b in _pairs(recent):
        if RANKED and (a.unit or b.unit):  # amounts, not percentages of percentages
            continue
        first, second = (a, b) if (a.when or (0, 0)) <= (b.when or (0, 0)) else (b, a)
        tries.append(("growth", [first, second]))
        tries.append(("difference", [first, second]))
        tries.append(("ratio", [a, b]))
        tries.append(("ratio", [b, a]))
    steps = by_kind.get("steps", [])[-3:]
    for a, b in _pairs(steps):
        tries += [("order", [a, b]), ("order", [b, a]), ("expand", [a, b]), ("expand", [b, a])]
    spans = by_kind.get("span", [])
    if spans:
        tries.append(("join", spans))
    out: list[Candidate] = []
    seen: set = set()
    for op, args in reversed(tries):  # newest material first
        # memory items live for the whole episode, so their ids name them: each composition
        # is computed once per episode, not at every decision
        ck = (op, tuple(id(a) for a in args))
        if ck in mem.composed:
            it = mem.composed[ck]
        else:
            it = mem.composed[ck] = compose(op, args, q)
        if it is None or it.key in mem.item_keys or it.key in seen:
            continue
        seen.add(it.key)
        f = item_feats(mem, it)
        f["c_args"] = min(len(args), 8) / 4.0
        out.append(Candidate({"tool": "compose"}, "compose", op, 0, f,
                             _tokens("compose", it), it))
        if not RANKED and len(out) >= MAX_COMPOSES:
            break
    return _diverse(out, MAX_COMPOSES) if RANKED else out


def _diverse(cands: list[Candidate], cap: int) -> list[Candidate]:
    """At most `cap` candidates: each operation's candidates by relevance to the question
    (newest first among equals), taken round-robin over the operations, the operation with
    the most relevant candidate first, so one operation over many pairs cannot crowd out the
    others."""
    by_op: dict[str, list[tuple[float, int, Candidate]]] = {}
    for k, c in enumerate(cands):
        by_op.setdefault(c.sub, []).append((-_relevance(c), k, c))
    queues = sorted((sorted(v, key=lambda x: (x[0], x[1])) for v in by_op.values()),
                    key=lambda v: (v[0][0], v[0][1]))
    out: list[Candidate] = []
    depth = 0
    while len(out) < cap and any(depth < len(v) for v in queues):
        for v in queues:
            if depth < len(v) and len(out) < cap:
                out.append(v[depth][2])
        depth += 1
    return out


def answer_candidates(mem: Memory) -> list[Candidate]:
    out = []
    pool = list(reversed(mem.items[-MAX_ANSWERS:]))
    if RANKED and len(mem.items) > MAX_ANSWERS:
        # the newest items, and the older ones most relevant to the question
        half = MAX_ANSWERS // 2
        older = sorted(mem.items[:-half], key=lambda i: -_item_relevance(mem, i))
        pool = list(reversed(mem.items[-half:])) + older[:MAX_ANSWERS - half]
    for it in pool:
        f = item_feats(mem, it)
        f["a_len"] = min(it.text_len, 2000) / 500.0
        f["a_latest_item"] = float(it is mem.items[-1])
        out.append(Candidate({"tool": "answer", "answer": render(it)}, "answer", it.kind, 0,
                             f, _tokens("answer", it), it))
    if not out:
        top = min(mem.hits.values(), key=lambda h: (h.rank, h.doc_id), default=None)
        out.append(Candidate({"tool": "answer", "answer": top.title if top else "unknown"},
                             "answer", "fallback", 0, {"a_fallback": 1.0},
                             ("answer", "answer:fallback")))
    return out


def _item_relevance(mem: Memory, it: Item) -> float:
    f = mem.feats.get(it)
    if f is None:
        f = mem.feats[it] = _static_feats(mem.question, it)
    return _rel(f)


def _relevance(c: Candidate) -> float:
    return _rel(c.feats)


def _rel(f: dict[str, float]) -> float:
    return f.get("i_q_label", 0) + f.get("i_label_q", 0) + f.get("i_cov", 0) + f.get(
        "i_period", 0) - f.get("i_stale", 0) - f.get("i_in_question", 0)


def _mark_best(cands: list[Candidate]) -> list[Candidate]:
    """Relative evidence: the candidate(s) of each tool with the highest item relevance
    (label overlap, phrase coverage, period match, not stale) get `i_best` = 1."""
    for tool in ("extract", "compose", "answer"):
        group = [c for c in cands if c.tool == tool and c.item is not None]
        if group:
            top = max(_relevance(c) for c in group)
            for c in group:
                c.feats["i_best"] = float(_relevance(c) >= top - 1e-9)
    return cands


def _doc_units(mem: Memory, d) -> list:
    if d.doc_id not in mem.units:
        mem.units[d.doc_id] = [(it, item_feats(mem, it)) for it in extractable(d, mem.question)]
    return mem.units[d.doc_id]


def auto_extract(mem: Memory) -> None:
    """Put the `AUTO` units of each newly read document most relevant to the question into
    working memory (no decision, no tool call; the same relevance that ranks the extract
    candidates), so that what a document says about the question is answerable and
    composable without first learning to extract it."""
    if AUTO <= 0:
        return
    for d in mem.read:
        if d.doc_id in mem.auto_done:
            continue
        mem.auto_done.add(d.doc_id)
        units = sorted(enumerate(_doc_units(mem, d)), key=lambda u: (-_rel(u[1][1]), u[0]))
        for _, (it, _f) in units[:AUTO]:
            mem.put(it)


def build_candidates(mem: Memory) -> list[Candidate]:
    """Every action open at this step (never empty)."""
    auto_extract(mem)
    internal: list[Candidate] = []
    if mem.internal < MAX_INTERNAL and mem.internal_run < MAX_RUN:
        internal = extract_candidates(mem) + compose_candidates(mem)
    if mem.steps_left <= 1:
        return _mark_best(internal + answer_candidates(mem))
    out = search_candidates(mem) + read_candidates(mem) + internal
    if mem.items or not out:
        out += answer_candidates(mem)
    return _mark_best(out)
