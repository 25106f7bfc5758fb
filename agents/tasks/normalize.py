"""Normalisation and parsing shared by every grader.

Input: free-form answer strings (or lists of them). Output: canonical text, numbers, dates and
lists. Invariants: pure and deterministic; never raises on any string (unparseable input
gives None or an empty list), so a grader can be fed arbitrary agent output.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

_LEGAL = {"inc", "ltd", "llc", "plc", "gmbh", "corp", "corporation", "co", "sa", "ag", "bv"}
_WORD_NUMBERS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november "
    "december".split())}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mm": 1e6, "mn": 1e6, "million": 1e6,
          "b": 1e9, "bn": 1e9, "billion": 1e9}


def to_text(answer: Any) -> str:
    """Any JSON-like answer flattened to one string (lists joined by newlines)."""
    if answer is None:
        return ""
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict):
        return "\n".join(f"{k}: {to_text(v)}" for k, v in answer.items())
    if isinstance(answer, (list, tuple)):
        return "\n".join(to_text(a) for a in answer)
    return str(answer)


def single(answer: Any) -> Any:
    """A scalar answer: a one-element list is unwrapped; a longer list is no answer (None)."""
    if isinstance(answer, (list, tuple)):
        return answer[0] if len(answer) == 1 else None
    return answer


def normalize_text(s: Any) -> str:
    """Casefolded, accent-free, punctuation-free words separated by single spaces."""
    s = unicodedata.normalize("NFKD", to_text(s))
    s = "".join(ch for ch in s if not unicodedata.combining(ch)).casefold()
    s = re.sub(r"[^\w%]+", " ", s.replace("_", " "))
    return " ".join(s.split())


def normalize_name(s: Any) -> str:
    """Entity names: 'Doe, Jane' == 'jane doe'; a leading 'the' and legal suffixes dropped."""
    raw = to_text(s).strip()
    if raw.count(",") == 1 and not re.search(r",\s*(inc|ltd|llc|plc)\b", raw, re.I):
        last, first = raw.split(",")
        if first.strip() and len(last.split()) <= 2 and len(first.split()) <= 2:
            raw = f"{first} {last}"
    words = normalize_text(raw).split()
    if words and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in _LEGAL:
        words = words[:-1]
    return " ".join(words)


def contains_phrase(haystack_norm: str, phrase: str) -> bool:
    """Whole-word containment of a phrase in already-normalised text."""
    p = normalize_text(phrase)
    return bool(p) and f" {p} " in f" {haystack_norm} "


@dataclass(frozen=True)
class Quantity:
    value: float
    percent: bool


_NUM_RE = re.compile(
    r"(?P<num>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)"
    r"(?:\s*(?P<suf>%|percent\b|per\s+cent\b|thousand\b|million\b|billion\b|"
    r"mm\b|mn\b|bn\b|[kmb]\b|x\b))?", re.I)


def find_quantities(s: Any) -> list[Quantity]:
    """Every number mentioned in s, scaled by suffixes (k, M, million, bn) and flagged as a
    percentage when followed by % or 'percent'. Numbers glued to identifiers (Q2, DL-1042,
    E-4312, v3) are skipped; a minus sign counts only when it starts a token."""
    text = to_text(s).replace("\u2212", "-").replace("\u2013", "-")
    out = []
    for m in _NUM_RE.finditer(text):
        start = m.start()
        before = text[start - 1] if start else " "
        before2 = text[start - 2] if start > 1 else " "
        if before.isalnum() or before in "._" or (before == "-" and before2.isalnum()):
            continue
        if m.end() < len(text) and (text[m.end()].isalnum() and not m.group("suf")):
            continue  # part of a token such as 3rd or 10am
        value = Decimal(m.group("num").replace(",", ""))  # exact: "65.07 million" == 65070000
        suf = (m.group("suf") or "").lower().replace(" ", "")
        if before == "-" or (before == "(" and text[m.end():m.end() + 1] == ")"):
            value = -value
        elif before in " $" and before2 == "-" and (start < 3 or not text[start - 3].isalnum()):
            value = -value  # "- 5" or "-$5"
        if suf in _SCALE:
            value *= Decimal(int(_SCALE[suf]))
        out.append(Quantity(float(value), suf in ("%", "percent")))
    if not out:
        for w in normalize_text(text).split():
            if w in _WORD_NUMBERS:
                out.append(Quantity(float(_WORD_NUMBERS[w]), False))
    return out


def parse_quantity(s: Any) -> Quantity | None:
    """The answer's number: the only one mentioned, else the last one ('... so 12%')."""
    if isinstance(s, bool):
        return None
    if isinstance(s, (int, float)):
        return Quantity(float(s), False) if s == s else None
    qs = find_quantities(s)
    return qs[-1] if qs else None


def close(a: float, b: float, rel: float, abs_tol: float = 0.0) -> bool:
    return abs(a - b) <= max(rel * abs(b), abs_tol)


def number_matches(gold: float, answer: Any, kind: str, rel: float = 0.01,
                   abs_tol: float = 0.0) -> bool:
    """Whether answer states gold. kind 'percent' also accepts a fraction (0.12 for 12%)."""
    q = parse_quantity(answer)
    if isinstance(answer, str):
        # Prefer the last quantity of the asked kind ("grew 12% to $11M" answers either).
        qs = [x for x in find_quantities(answer) if x.percent == (kind == "percent")]
        q = qs[-1] if qs else q
    if q is None:
        return False
    if close(q.value, gold, rel, abs_tol):
        return True
    if kind == "percent" and not q.percent:
        return close(q.value * 100, gold, rel, abs_tol)
    return False


_DATE_PATTERNS = (
    (re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b"), ("y", "m", "d")),
    (re.compile(r"\b([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I),
     ("mon", "d", "y")),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([a-z]{3,9})\.?,?\s+(\d{4})\b", re.I),
     ("d", "mon", "y")),
)


def find_dates(s: Any) -> list[date]:
    text = to_text(s)
    found: list[tuple[int, date]] = []
    for pattern, order in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            parts = dict(zip(order, m.groups()))
            month = (int(parts["m"]) if "m" in parts
                     else _MONTHS.get(parts["mon"].lower().rstrip(".")))
            try:
                found.append((m.start(), date(int(parts["y"]), month or 0, int(parts["d"]))))
            except (ValueError, TypeError):
                continue
    return [d for _, d in sorted(found, key=lambda t: t[0])]


def parse_date(s: Any) -> date | None:
    """The last date mentioned in s, in ISO, 'March 5, 2024' or '5 Mar 2024' form."""
    ds = find_dates(s)
    return ds[-1] if ds else None


_ITEM_MARK = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,3}[.)]|step\s+\d+\s*[:.)-]?)\s*", re.I)


def split_items(answer: Any, commas: bool) -> list[str]:
    """A list answer as items: lists pass through; strings split on newlines, ';', inline
    numbering ('1. a 2. b') and, when commas is set, on ',' and ' and '."""
    if isinstance(answer, (list, tuple)):
        raw = [to_text(a) for a in answer]
    elif isinstance(answer, dict):
        raw = [to_text(v) for v in answer.values()]
    else:
        text = to_text(answer)
        if "\n" not in text:
            text = re.sub(r"(?:(?<=\s)|^)(\d{1,2})[.)]\s+", r"\n", text)
        raw = re.split(r"[\n;]+", text)
    items = []
    for r in raw:
        parts = re.split(r",|\band\b", r) if commas else [r]
        for p in parts:
            p = _ITEM_MARK.sub("", p).strip().strip(".")
            if p:
                items.append(p)
    return items
