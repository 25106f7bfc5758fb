"""Text-only parsers for rendered documents, used by agents that must not see ground truth.

Input: a document's text as returned by the `read` tool. Output: titles, "- Key: value"
fields, markdown tables, numbered steps by "Applies to" section, meeting-note records and
profile attributes. Invariants: best effort and total: unknown layouts yield empty results,
never exceptions; nothing here imports the world's records, so the heuristic agent and the
synthesis explorer stay honest.
"""
from __future__ import annotations

import re

from .tasks.normalize import find_dates, find_quantities, parse_date

_FIELD = re.compile(r"^\s*-\s*([A-Za-z][A-Za-z ]+):\s*(.+?)\s*$", re.M)
_NUMBERED = re.compile(r"^\s*(\d+)\.\s+(.*\S)\s*$")


def title_of(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first.lstrip("#").strip()


def fields(text: str) -> dict[str, str]:
    return {k.strip().lower(): v for k, v in _FIELD.findall(text)}


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table as a list of {header: cell} rows."""
    out, header, rows = [], None, []
    for line in text.splitlines() + [""]:
        s = line.strip()
        if s.startswith("|") and s.endswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(set(c) <= set("-: ") for c in cells):
                rows.append(dict(zip(header, cells)))
        elif header is not None:
            out.append(rows)
            header, rows = None, []
    return out


def sections_with_steps(text: str) -> list[tuple[str, list[str]]]:
    """(applies-to line or '', numbered steps) for each numbered list in the text."""
    out: list[tuple[str, list[str]]] = []
    label, steps = "", []
    for line in text.splitlines():
        m = _NUMBERED.match(line)
        if m:
            steps.append(m.group(2))
            continue
        if steps:
            out.append((label, steps))
            steps = []
        if "applies to" in line.lower():
            label = line
    if steps:
        out.append((label, steps))
    return out


def number(s: str) -> float | None:
    qs = find_quantities(s)
    return qs[0].value if qs else None


def customer_profile(text: str) -> dict:
    """Attributes of an account profile in either layout (bulleted or prose)."""
    title = title_of(text)
    out: dict = {"archived": "ARCHIVED" in title}
    m = re.search(r"Account profile:\s*(.+?)(?:\s*\(snapshot.*)?$", title)
    if m:
        out["name"] = m.group(1).strip()
    f = fields(text)
    if "industry" in f:
        out.update(industry=f["industry"], region=f.get("region"), hq=f.get("headquarters"),
                   size=f.get("segment"), owner=f.get("account owner"),
                   employees=number(f.get("employees", "")),
                   revenue=number(f.get("annual revenue", "")),
                   products=[p.strip() for p in f.get("products in use", "").split(",")],
                   since=parse_date(f.get("customer since", "")))
        return out
    m = re.search(r"is an? (.+?) company in the (.+?) industry, headquartered in (.+?) "
                  r"\((.+?) region\).*?about ([\d,]+) employees and annual revenue of (.+?)\. "
                  r"It has been a customer since (.+?) and uses (.+?)\. The account owner is "
                  r"(.+?)\.", text, re.S)
    if m:
        out.update(size=m.group(1), industry=m.group(2), hq=m.group(3), region=m.group(4),
                   employees=number(m.group(5)), revenue=number(m.group(6)),
                   since=parse_date(m.group(7)),
                   products=[p.strip() for p in m.group(8).split(",")], owner=m.group(9))
    return out


_NOTE_ITEM = re.compile(r"^- (.+?) to (.+) \(due (.+)\)$")
_NOTE_CANCEL = re.compile(r"^- Cancelled: the action item for (.+?) to (.+) \(from the (.+) "
                          r"meeting\)")
_NOTE_STATUS = re.compile(r"^- (.+?): account status is now (.+)\.$")
_DECISION = re.compile(r"(Project \w+)(?: \((.+?) team\))?: (launch date|budget|project lead) "
                       r"(?:set|changed) to (.+?)(?: \(supersedes.*\))?\.$")
_DECISION2 = re.compile(r"the (launch date|budget|project lead) for (Project \w+)(?: \((.+?) "
                        r"team\))? is (?:now )?(.+?)(?:; this replaces.*)?\.$")


def meeting_note(text: str) -> dict:
    """team, date, decisions [(project, field, value)], actions [(owner, text)],
    cancelled [(owner, text)], statuses [(customer, status)] of a team sync note."""
    title = title_of(text)
    m = re.match(r"(.+?) team sync, (.+)$", title)
    out: dict = {"team": m.group(1) if m else "", "date": parse_date(title),
                 "decisions": [], "actions": [], "cancelled": [], "statuses": []}
    for line in text.splitlines():
        line = line.strip()
        if (c := _NOTE_CANCEL.match(line)):
            out["cancelled"].append((c.group(1), c.group(2)))
        elif (a := _NOTE_ITEM.match(line)):
            out["actions"].append((a.group(1), a.group(2)))
        elif (s := _NOTE_STATUS.match(line)):
            out["statuses"].append((s.group(1), s.group(2)))
        elif (d := _DECISION.search(line)):
            out["decisions"].append((d.group(1), d.group(3), d.group(4)))
        elif (d := _DECISION2.search(line)):
            out["decisions"].append((d.group(2), d.group(1), d.group(4)))
    return out


def decision_value(field: str, shown: str) -> str:
    """A decision's value in the canonical answer form: ISO date, whole dollars, or name."""
    if field == "launch date":
        ds = find_dates(shown)
        return ds[0].isoformat() if ds else shown
    if field == "budget":
        v = number(shown)
        return str(int(round(v))) if v is not None else shown
    return shown


def _vt(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def version_in_scope(version: str, scope: str) -> bool | None:
    """Whether a runbook's 'Applies to' scope covers version; None if the scope is unreadable.
    Scopes: 'all P versions', 'P 2.1 only', 'P 2.1 and earlier', 'P 2.1 and later',
    'P 2.0 through 2.2'."""
    v = _vt(version)
    if re.search(r"\ball \w+ versions\b", scope):
        return True
    if (m := re.search(r"(\d+\.\d+) through (\d+\.\d+)", scope)):
        return _vt(m.group(1)) <= v <= _vt(m.group(2))
    if (m := re.search(r"(\d+\.\d+) and earlier", scope)):
        return v <= _vt(m.group(1))
    if (m := re.search(r"(\d+\.\d+) and later", scope)):
        return v >= _vt(m.group(1))
    if (m := re.search(r"(\d+\.\d+) only", scope)):
        return v == _vt(m.group(1))
    return None
