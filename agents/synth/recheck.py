"""The explorer's own re-check: re-derive a synthesized answer more thoroughly, tools only.

Input: a `SearchIndex` and a synthesized `Task` (with `meta["synth"]["claim"]`). Output:
`recheck(index, task) -> (ok, reason)`. The writer that produced the answer read only the
first few hits; the re-check asks again with several queries and deeper result lists, reads
every candidate document, follows the corpus's own signals (later notes supersede earlier
ones, "as originally published" statements were restated, [DEPRECATED] runbooks and
preliminary flash reports are not authoritative, a runbook section's version scope) and
compares its answer with the synthesized one using the regime's grader.
Invariants: uses only search/read (never the world or its ground truth, unlike `check.py`);
deterministic per (index, task); a claim type it does not know passes (with the reason
"not re-checked"). Questions that fail are dropped by the pipeline.
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable

from .. import extract as X
from ..tasks import Task, grade
from ..tasks.normalize import parse_date
from ..tools import SearchIndex
from .explorer import ToolSession

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
K = 20


def _agrees(task: Task, answer: Any) -> bool:
    """Whether the re-derived answer grades the synthesized one as right."""
    gold = copy.deepcopy(task)
    gold.answer = answer
    return grade(gold, task.answer) >= 0.999


def _hits(s: ToolSession, queries: list[str], keep: Callable[[str], bool]) -> list[str]:
    out: dict[str, None] = {}
    for q in queries:
        for h in s.search(q, K):
            if keep(h.title):
                out.setdefault(h.doc_id)
    return list(out)


def _project_field(s: ToolSession, task: Task, c: dict) -> tuple[bool, str]:
    project, field = c["project"], c["field"]
    best = None
    for d in _hits(s, [f"{project} {field}", project, f"{project} supersedes decision"],
                   lambda t: "team sync" in t):
        n = X.meeting_note(s.read(d))
        for p, f, v in n["decisions"]:
            if p == project and f == field and n["date"] and (best is None or
                                                              n["date"] > best[0]):
                best = (n["date"], X.decision_value(f, v))
    if best is None:
        return False, "no decision found"
    answer: Any = best[1]
    if task.meta.get("kind") == "money" and str(answer).isdigit():
        answer = int(answer)
    return _agrees(task, answer), f"latest decision {answer!r}"


def _action_count(s: ToolSession, task: Task, c: dict) -> tuple[bool, str]:
    team, person = c["team"], c["person"]
    year, q = c["quarter"].split("-Q")
    months = " ".join(MONTHS[3 * int(q) - 3:3 * int(q)])
    docs = _hits(s, [f"{team} team sync", f"{team} team sync action items",
                     f"{team} team sync {months} {year}", f"{person} {team} team sync"],
                 lambda t: t.startswith(f"{team} team sync"))
    count = 0
    for d in docs:
        text = s.read(d)
        day = parse_date(X.title_of(text))
        if day and day.year == int(year) and (day.month - 1) // 3 + 1 == int(q):
            count += sum(o == person for o, _ in X.meeting_note(text)["actions"])
    return _agrees(task, count), f"counted {count}"


def _cell(text: str, segment: str, column: str) -> float | None:
    scale = 1000.0 if "USD thousands" in text else 1.0
    for rows in X.tables(text):
        for r in rows:
            if r.get("Segment") == segment and column in r:
                v = X.number(r[column])
                return None if v is None else v * scale
    return None


def _finance(s: ToolSession, task: Task, c: dict) -> tuple[bool, str]:
    year, q = c["quarter"].split("-")
    qw = f"{q} {year}"
    title = f"{c['division']} division: quarterly financial statement, {qw}"
    restated = f"{c['division']} division: restated quarterly financial statement, {qw}"
    docs = _hits(s, [title, restated], lambda t: t in (title, restated))
    texts = {d: s.read(d) for d in docs}
    final = [t for t in texts.values() if X.title_of(t) == restated] or \
        [t for t in texts.values() if "as originally published" not in t]
    if len(final) != 1:
        return False, f"{len(final)} final statements"
    text = final[0]
    if c["op"] == "margin":
        inc, rev = _cell(text, c["segment"], "Operating income"), _cell(text, c["segment"],
                                                                         "Revenue")
        value = None if inc is None or not rev else round(inc / rev * 100, 4)
    else:
        column = {"revenue": "Revenue", "cost of revenue": "Cost of revenue",
                  "operating expenses": "Operating expenses",
                  "operating income": "Operating income"}[c["metric"]]
        value = _cell(text, c["segment"], column)
    if value is None:
        return False, "cell not found"
    return _agrees(task, value), f"final statement says {value}"


def _runbook(s: ToolSession, task: Task, c: dict) -> tuple[bool, str]:
    product, code, version = c["product"], c["code"], c["version"]
    head = f"Runbook: {product} error {code}"
    chosen = None  # [DEPRECATED] titles do not start with head
    for d in _hits(s, [f"{head} runbook", f"{product} {code} {version}"],
                   lambda t: t.startswith(head)):
        for label, steps in X.sections_with_steps(s.read(d)):
            if chosen is None and X.version_in_scope(version, label):
                chosen = steps
    if chosen is None:
        return False, "no runbook section covers the version"
    steps: list[str] = []
    for step in chosen:
        ref = re.match(r"Perform the .+? procedure \(see '(.+?)'\)", step)
        sub = _hits(s, [ref.group(1)], lambda t, r=ref.group(1): t == r) if ref else []
        secs = X.sections_with_steps(s.read(sub[0])) if sub else []
        steps += secs[0][1] if secs else [step]
    if c["prereq"]:
        title = f"{product} operations prerequisites"
        pre = _hits(s, [title], lambda t: t == title)
        secs = X.sections_with_steps(s.read(pre[0])) if pre else []
        if not secs:
            return False, "prerequisites not found"
        steps = secs[0][1] + steps
    return _agrees(task, steps), "re-derived the steps"


def _customer_match(s: ToolSession, task: Task, c: dict) -> tuple[bool, str]:
    attrs = c["attrs"]
    words = " ".join(str(v) for v in attrs.values())
    matches = set()
    for d in _hits(s, [words, f"account profile {words}"],
                   lambda t: t.startswith("Account profile:")):
        p = X.customer_profile(s.read(d))
        if p.get("archived"):
            continue
        ok = all((p.get("since").year == v if a == "since" and p.get("since") else
                  p.get(a) == v) for a, v in attrs.items())
        if ok and p.get("name"):
            matches.add(p["name"])
        elif ok:
            matches.add(d)
    if len(matches) > 1:
        return False, f"{len(matches)} profiles match"
    return True, "unique among the profiles found"


def _customer_brief(s: ToolSession, task: Task, c: dict) -> tuple[bool, str]:
    name, fields = c["customer"], c["fields"]
    latest = None
    for d in _hits(s, [f"{name} account status", f"{name} account status is now",
                       f"{name} team sync"], lambda t: "team sync" in t):
        n = X.meeting_note(s.read(d))
        for cust, st in n["statuses"]:
            if cust == name and n["date"] and (latest is None or n["date"] > latest[0]):
                latest = (n["date"], st)
    deal = None
    for d in _hits(s, [f"{name} deal", f"Deal {name}"],
                   lambda t: t.startswith("Deal ") and name in t):
        f = X.fields(s.read(d))
        day = parse_date(f.get("created", ""))
        if day and (deal is None or day > deal[0]):
            deal = (day, f.get("stage"))
    if latest is None or deal is None:
        return False, "status or deal not found"
    if latest[1] != fields.get("account status") or deal[1] != fields.get("latest deal stage"):
        return False, f"latest status {latest[1]!r}, latest deal stage {deal[1]!r}"
    return True, "status and stage confirmed"


RECHECKS: dict[str, Callable[[ToolSession, Task, dict], tuple[bool, str]]] = {
    "project_field": _project_field, "action_count": _action_count, "finance": _finance,
    "runbook": _runbook, "customer_match": _customer_match, "customer_brief": _customer_brief,
}


def recheck(index: SearchIndex, task: Task) -> tuple[bool, str]:
    """(the synthesized answer survives a deeper tools-only re-derivation, why)."""
    claim = task.meta.get("synth", {}).get("claim", {})
    fn = RECHECKS.get(claim.get("type"))
    if fn is None:
        return True, "not re-checked"
    return fn(ToolSession(index), task, claim)
