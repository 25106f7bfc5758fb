"""Question analysis and parsed documents, shared by candidate generation and features.

Input: a question and its answer-format line (both from the env's first observation), and
document text returned by the `read` tool. Output: `Question` (content words, key phrases,
period, version, quoted values) and `ParsedDoc` (title entity, type words, stale marker, date,
fields, tables, numbered lists, meeting-note records, person-like names).
Invariants: pure functions of the text; nothing here knows which regime asked, so the same
analysis runs on every question (regime knowledge may only reach the policy as features);
parsed documents are cached per process by (doc_id, text length) because the corpus is fixed
and an episode re-reads what other episodes read.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from .. import extract as X
from ..tasks.normalize import parse_date

STOPWORDS = frozenset("""a an and are as at be by did do does for from has have how in is it its
of on or that the their them these this to was were what which who whom with within write
answer give use using name list all any each every one per line lines please figure short
brief cover covering latest most recent current information according""".split())
# Words that open a sentence in questions: capitalised for grammar, not because they name
# anything. Dropped from key phrases.
OPENERS = frozenset("""Which What Who How List Name Write Prepare According Answer Give Use
Cover Begin Start The In For Of Brief Find Is Are Did Does Do When Where Across""".split())
STALE_MARKERS = ("[archived]", "[deprecated]", "preliminary", "superseded", "no longer")

_WORD = re.compile(r"[a-z0-9][a-z0-9\-.]*[a-z0-9]|[a-z0-9]")
_QUARTER = re.compile(r"\bQ[1-4] \d{4}\b")
_CODE = re.compile(r"\b[A-Z]+-\d+\b")
_VERSION = re.compile(r"\b\d+\.\d+\b")
_NUMBER = re.compile(r"\b\d[\d,]*\b")
_CAPS = re.compile(r"\b[A-Z][\w&'\-]*(?: (?:of |& )?[A-Z][\w&'\-]*)*")
# a quoted value opens after a space or bracket, not inside a word (the apostrophe of "team's"
# is no quote: "team's sync notes ... have 'on track'" quotes only "on track")
_QUOTED = re.compile(r"(?<![\w'])'([^']{2,40})'(?!\w)")
_NAME = re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b")


def words(text: str) -> list[str]:
    """Lower-case content tokens (stopwords removed), in order, duplicates kept."""
    return list(_words(text))


@lru_cache(maxsize=65536)
def _words(text: str) -> tuple[str, ...]:
    # queries, labels and values recur across decisions and episodes: tokenise each once
    return tuple(w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1)


@dataclass(frozen=True)
class Question:
    text: str
    fmt: str
    core: str  # the question without answer-format instructions: the default query
    content: tuple[str, ...]  # content words of the question, first occurrence order
    phrases: tuple[str, ...]  # key phrases: quarters, codes, capitalised names, numbers, quotes
    fmt_words: frozenset[str]
    period: str  # first quarter or year mentioned ('' if none)
    version: str

    @property
    def all_words(self) -> frozenset[str]:
        return frozenset(self.content) | self.fmt_words


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s]


@lru_cache(maxsize=4096)
def analyse(text: str, fmt: str = "") -> Question:
    core = " ".join(s for s in _sentences(text)
                    if not s.lower().startswith(("answer", "use the", "give the")))
    phrases: list[str] = []
    rest = core
    for rx in (_QUARTER, _QUOTED, _CODE):
        for m in rx.finditer(rest):
            phrases.append(m.group(1) if rx is _QUOTED else m.group(0))
        rest = rx.sub(" ", rest)
    for m in _CAPS.finditer(rest):
        ws = m.group(0).split()
        while ws and ws[0] in OPENERS:
            ws = ws[1:]
        if ws:
            phrases.append(" ".join(ws))
    rest = _CAPS.sub(" ", rest)
    phrases += [m.group(0) for m in _NUMBER.finditer(rest) if len(m.group(0)) >= 3]
    phrases += [m.group(0) for m in _VERSION.finditer(text)]
    content = tuple(dict.fromkeys(words(core)))
    period = next((m.group(0) for m in _QUARTER.finditer(text)), "") or \
        next((m.group(0) for m in re.finditer(r"\b(?:19|20)\d{2}\b", text)), "")
    version = next((m.group(0) for m in _VERSION.finditer(text)), "")
    return Question(text, fmt, core, content, tuple(dict.fromkeys(phrases)),
                    frozenset(re.findall(r"[a-z]+", fmt.lower())), period, version)


@dataclass
class ParsedDoc:
    doc_id: str
    title: str
    text: str
    lower: str
    entity: str  # what the document is about, from its title
    type_words: tuple[str, ...]  # the title's leading words: what kind of document this is
    stale: bool
    date: date | None
    fields: dict[str, str]
    tables: list[list[dict[str, str]]]
    lists: list[tuple[str, list[str]]]
    note: dict
    names: list[str] = field(default_factory=list)
    scale: float = 1.0  # multiplier for table amounts ('USD thousands' -> 1000)

    def mentions(self, phrase: str) -> bool:
        return bool(phrase) and phrase.lower() in self.lower


def title_entity(title: str) -> str:
    """'Account profile: Skaido Systems' -> 'Skaido Systems'; 'Goran Lopez (Engineer)' ->
    'Goran Lopez'; '[ARCHIVED] ...' markers and parentheticals dropped."""
    t = re.sub(r"\[[A-Z]+\]\s*", "", title)
    t = re.sub(r"\s*\(.*?\)", "", t).strip()
    if ":" in t:
        t = t.split(":", 1)[1].strip()
    return t.split(" / ")[0].strip()


def type_words(title: str) -> tuple[str, ...]:
    t = re.sub(r"\[[A-Z]+\]\s*", "", title).split(":")[0]
    ws = [w for w in re.findall(r"[a-z]+", t.lower()) if w not in STOPWORDS]
    return tuple(ws[:2]) if ":" in title else tuple(ws[-2:])


@lru_cache(maxsize=8192)
def _parse(doc_id: str, text: str) -> ParsedDoc:
    title = X.title_of(text)
    lower = text.lower()
    head = lower[:400]
    fields = X.fields(text)
    d = parse_date(title)
    if d is None:
        for key in ("created", "date", "snapshot"):
            if key in fields and (d := parse_date(fields[key])):
                break
    ent = title_entity(title)
    names = [n for n in dict.fromkeys(_NAME.findall(text)) if n != ent]
    return ParsedDoc(doc_id, title, text, lower, ent, type_words(title),
                     any(m in head for m in STALE_MARKERS), d, fields, X.tables(text),
                     X.sections_with_steps(text), X.meeting_note(text), names,
                     1000.0 if "thousands" in head else 1.0)


def parse_doc(doc_id: str, text: str) -> ParsedDoc:
    return _parse(doc_id, text)
