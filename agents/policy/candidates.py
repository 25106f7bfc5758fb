"""Candidate actions for one decision: queries to issue, documents to read, answers to give.

Input: a `Memory`. Output: `Candidate`s (the env action plus generic descriptors that
`features` turns into numbers). Queries come from the question (whole, key phrases only, one
key phrase with the question's content words, the phrases no read document covers yet) and,
for multi-hop questions, from people and entities seen in read documents (a "hop"); reads are
the unread hits, latest search first; answers are `answers.answer_drafts`.
Invariants: the same generators run for every question; no query is issued twice; a read
needs an unread hit and an answer needs at least one read document, except on the last step,
when only answers are offered (so every episode ends with an answer the policy chose).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .answers import Draft, answer_drafts, format_match, frac
from .memory import Memory
from .text import type_words, words

MAX_QUERIES = 8
MAX_READS = 8
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


def answer_candidate(mem: Memory, a: Draft) -> Candidate:
    f = {"a_format": format_match(mem.question, a.kind),
         "a_coverage": a.feats.get("coverage", 0.0),
         "a_coverage_linked": a.feats.get("coverage_linked", a.feats.get("coverage", 0.0)),
         "a_all_covered": a.feats.get("all_covered", 0.0),
         "a_in_question": a.feats.get("in_question", 0.0),
         "a_stale": a.feats.get("stale", 0.0),
         "a_support": min(a.feats.get("support", 1.0), 8.0) / 4.0,
         "a_qualifier": a.feats.get("qualifier", 0.0),
         "a_len": min(len(str(a.value)), 2000) / 500.0}
    f[f"a_v{min(a.variant, 3)}"] = 1.0
    return Candidate({"tool": "answer", "answer": a.value}, "answer", a.kind, a.variant, f,
                     ("answer", f"answer:{a.kind}", f"answer:{a.kind}:{a.variant}"))


def build_candidates(mem: Memory) -> list[Candidate]:
    """Every action open at this step (never empty)."""
    if mem.steps_left <= 1:
        return [answer_candidate(mem, a) for a in answer_drafts(mem)]
    out = search_candidates(mem) + read_candidates(mem)
    if mem.read or not out:
        out += [answer_candidate(mem, a) for a in answer_drafts(mem)]
    return out
