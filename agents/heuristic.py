"""The heuristic baseline: keyword BM25 queries, read the top documents, extract an answer.

Input: observations from `SearchEnv` (never the task or the world). Output: actions. Each
regime has a short script written as a generator that yields actions and receives
observations; `HeuristicAgent` drives it and answers its best guess when the step budget is
about to run out. Invariants: uses only tool output; deterministic given its rng; `noise` in
[0, 1] drops query words and perturbs which hits are read, which turns the baseline into a
family of stochastic solvers for synthesis pass-rate estimates.
"""
from __future__ import annotations

import random
import re
from typing import Any, Generator

from . import extract as X

Script = Generator[dict, dict, None]


def strip_instructions(question: str) -> str:
    return " ".join(s for s in re.split(r"(?<=[.?])\s+", question)
                    if not s.lower().startswith(("answer", "start with", "use the latest")))


class HeuristicAgent:
    name = "heuristic"
    privileged = False

    def __init__(self, noise: float = 0.0, reads: int = 3):
        self.noise, self.reads = noise, reads

    def begin(self, observation: dict, task: Any = None, rng: random.Random | None = None):
        self.rng = rng or random.Random(0)
        self.state: dict = {"guess": ""}
        script = SCRIPTS[observation["regime"]]
        self.script = script(self, observation["question"], self.state)
        self.pending = next(self.script)

    def act(self, observation: dict) -> dict:
        if observation["type"] != "question":
            try:
                self.pending = self.script.send(observation)
            except StopIteration:
                self.pending = {"tool": "answer", "answer": self.state["guess"]}
        if observation["steps_left"] <= 1 and self.pending["tool"] != "answer":
            return {"tool": "answer", "answer": self.state["guess"] or "unknown"}
        return self.pending

    # -- helpers shared by the scripts ------------------------------------------------------
    def query(self, text: str) -> str:
        words = text.split()
        if self.noise and len(words) > 2:
            kept = [w for w in words if self.rng.random() >= self.noise / 2]
            words = kept or words[:1]
        return " ".join(words)

    def pick(self, hits: list[dict], n: int) -> list[dict]:
        hits = list(hits)
        if self.noise and self.rng.random() < self.noise and len(hits) > 1:
            i = self.rng.randrange(1, len(hits))
            hits[0], hits[i] = hits[i], hits[0]
        return hits[:n]


def _search(agent: HeuristicAgent, q: str, k: int = 10) -> dict:
    return {"tool": "search", "query": agent.query(q), "k": k}


def constraint(agent: HeuristicAgent, question: str, state: dict) -> Script:
    want_customer = "customer" in question.split("?")[0].lower()
    obs = yield _search(agent, strip_instructions(question))
    hits = [h for h in obs.get("results", []) if
            (h["title"].startswith("Account profile:") if want_customer else
             ":" not in h["title"].replace("Employee profile:", "") and "team" not in
             h["title"].lower() and "#" not in h["title"])]
    terms = re.findall(r"\b(?:[A-Z][\w-]*(?: [A-Z][\w-]*)*|\d[\d,]*)\b", question)
    terms = [t for t in terms if t not in ("Which", "Answer")]
    best, best_score = None, -1
    for h in agent.pick(hits, agent.reads):
        doc = yield {"tool": "read", "doc_id": h["doc_id"]}
        text = doc.get("content", "")
        score = sum(t in text for t in terms)
        name = re.sub(r"^(Account profile|Employee profile):\s*", "", h["title"])
        name = re.sub(r"\s*\(.*\)$", "", name)
        if score > best_score:
            best, best_score = name, score
            state["guess"] = best


def report(agent: HeuristicAgent, question: str, state: dict) -> Script:
    m = re.search(r"customer (.+?)\. Cover", question) or \
        re.search(r"brief on (?:the customer )?(.+?)(?: covering|:|\.)", question)
    name = m.group(1) if m else strip_instructions(question)
    obs = yield _search(agent, name, 10)
    hits = obs.get("results", [])
    def first(pred) -> dict | None:
        return next(iter(agent.pick([h for h in hits if pred(h["title"])], 1)), None)
    profile = first(lambda t: "Account profile" in t)
    deal = first(lambda t: t.startswith(("Deal ", "Re:")))
    note = first(lambda t: "team sync" in t)
    facts: list[str] = [f"Brief on {name}."]
    # State only what the brief asks for: unasked facts are noise to the grader (and reader).
    def asked(label: str) -> bool:
        word = {"Account owner": "owner", "Headquarters": "headquarters"}.get(label, label)
        return word.lower() in question.lower()
    for h in (profile, deal, note):
        if h is None:
            continue
        doc = yield {"tool": "read", "doc_id": h["doc_id"]}
        text = doc.get("content", "")
        if h is profile:
            p = X.customer_profile(text)
            facts += [f"{label}: {p[k]}." for k, label in (
                ("industry", "Industry"), ("hq", "Headquarters"), ("owner", "Account owner"))
                if p.get(k) and asked(label)]
            if p.get("employees") and asked("employees"):
                facts.append(f"Employees: {int(p['employees']):,}.")
            if p.get("products") and asked("products"):
                facts.append("Products in use: " + ", ".join(p["products"]) + ".")
        elif h is deal:
            f = X.fields(text)
            stage = f.get("stage") or (re.search(r"at the (.+?) stage", text) or [None, ""])[1]
            amount = f.get("amount") or (re.search(r"valued at (.+?)\.", text) or [None, ""])[1]
            facts.append(f"Latest deal stage: {stage}.")
            if asked("amount"):
                facts.append(f"Latest deal amount: {amount}.")
        else:
            for cust, status in X.meeting_note(text)["statuses"]:
                if cust == name:
                    facts.append(f"Account status: {status}.")
        state["guess"] = " ".join(facts)


METRICS = ("operating income", "operating expenses", "cost of revenue", "revenue")
COLUMNS = {"operating income": "Operating income", "operating expenses": "Operating expenses",
           "cost of revenue": "Cost of revenue", "revenue": "Revenue"}


def _cell(text: str, segment: str | None, column: str) -> float | None:
    scale = 1000.0 if "USD thousands" in text else 1.0
    for rows in X.tables(text):
        for row in rows:
            if row.get("Segment") == (segment or "Total") and column in row:
                v = X.number(row[column])
                return None if v is None else v * scale
    return None


def numeric(agent: HeuristicAgent, question: str, state: dict) -> Script:
    div = (re.search(r"(\w+) division", question) or [None, ""])[1]
    seg = (re.search(r"(?:the|its) ([A-Z][\w ]*?) segment", question) or [None, None])[1]
    metric = next((m for m in METRICS if m in question.lower()), "revenue")
    quarters = re.findall(r"Q[1-4] \d{4}", question)
    years = re.findall(r"fiscal year (\d{4})", question)
    margin = "margin" in question.lower()
    growth = "percentage" in question.lower() and not margin
    if years:
        quarters = [f"Q{k} {y}" for y in years for k in (1, 2, 3, 4)]
        seg = None if "all segments" in question else seg
    values: dict[str, tuple[float | None, float | None]] = {}
    col = "Operating income" if margin else COLUMNS[metric]
    for q in quarters:
        obs = yield _search(agent, f"{div} division {seg or 'total'} {metric} {q}", 5)
        for hit in agent.pick(obs.get("results", []), 2):
            doc = yield {"tool": "read", "doc_id": hit["doc_id"]}
            text = doc.get("content", "")
            if q in text and _cell(text, seg, col) is not None:
                values[q] = (_cell(text, seg, col), _cell(text, seg, "Revenue"))
                break
    got = [values.get(q, (None, None)) for q in quarters]
    if any(v is None or r is None for v, r in got):
        return
    if margin:
        state["guess"] = f"{sum(v for v, _ in got) / sum(r for _, r in got) * 100:.2f}%"
    elif growth:
        half = len(got) // 2
        a, b = sum(v for v, _ in got[:half]), sum(v for v, _ in got[half:])
        state["guess"] = f"{(b - a) / a * 100:.2f}%" if a else ""
    else:
        state["guess"] = f"${sum(v for v, _ in got):,.0f}"


def exhaustive(agent: HeuristicAgent, question: str, state: dict) -> Script:
    cond = (re.search(r"List all (.+?)\. Answer", question) or [None, question])[1]
    terms = [re.sub(r"^(?:Which|Who|What|List|Name)\s*", "", t)
             for t in re.findall(r"\b[A-Z][\w-]*(?: [A-Z][\w-]*)*\b", cond)]
    terms = [t for t in terms if t]
    obs = yield _search(agent, cond, 10)
    found: list[str] = []
    for h in agent.pick(obs.get("results", []), agent.reads + 2):
        doc = yield {"tool": "read", "doc_id": h["doc_id"]}
        text = doc.get("content", "")
        rows = [r for t in X.tables(text) for r in t]
        if rows:
            for r in rows:
                line = " ".join(r.values())
                name = r.get("Customer") or r.get("Name") or r.get("Deal")
                if name and all(t in line for t in terms) and name not in found:
                    found.append(name)
        elif all(t in text for t in terms):
            title = h["title"]
            m = re.match(r"(?:Account profile|Employee profile):\s*(.+)$", title) or \
                re.match(r"Deal (DL-\d+)", title)
            name = m.group(1) if m else re.sub(r"\s*\(.*\)$", "", title)
            if "ARCHIVED" not in title and name not in found:
                found.append(name)
        state["guess"] = list(found)


def procedure(agent: HeuristicAgent, question: str, state: dict) -> Script:
    code = (re.search(r"E-\d+", question) or [""])[0]
    m = re.search(r"(\w+) (\d+\.\d+)", question)
    product, version = (m.group(1), m.group(2)) if m else ("", "")
    steps: list[str] = []
    if "prerequisite" in question.lower():
        obs = yield _search(agent, f"{product} operations prerequisites", 5)
        hit = next((h for h in obs.get("results", []) if "prerequisites" in h["title"]), None)
        if hit:
            doc = yield {"tool": "read", "doc_id": hit["doc_id"]}
            secs = X.sections_with_steps(doc.get("content", ""))
            steps = secs[0][1] if secs else []
    obs = yield _search(agent, f"{product} {code} {version} runbook", 10)
    hits = [h for h in obs.get("results", []) if code and code in h["title"]]
    for h in agent.pick(hits, 1):
        doc = yield {"tool": "read", "doc_id": h["doc_id"]}
        secs = X.sections_with_steps(doc.get("content", ""))
        chosen = next((s for label, s in secs if X.version_in_scope(version, label)),
                      secs[0][1] if secs else [])
        state["guess"] = steps + chosen


def aggregate(agent: HeuristicAgent, question: str, state: dict) -> Script:
    q = question.lower()
    if not q.startswith("how many") and "project" in q:
        project = (re.search(r"Project \w+", question) or [""])[0]
        field = next((f for f in ("launch date", "budget", "project lead") if f in q), "")
        obs = yield _search(agent, f"{project} {field}", 10)
        best = None
        for h in agent.pick([h for h in obs.get("results", []) if "sync" in h["title"]],
                            agent.reads):
            doc = yield {"tool": "read", "doc_id": h["doc_id"]}
            note = X.meeting_note(doc.get("content", ""))
            for p, f, v in note["decisions"]:
                if p == project and f == field and note["date"] and \
                        (best is None or note["date"] > best[0]):
                    best = (note["date"], X.decision_value(f, v))
                    state["guess"] = best[1]
        return
    team = (re.search(r"in (?:the )?([A-Z][\w ]*?) team syncs", question) or
            re.search(r"the ([A-Z][\w ]*?) team", question) or [None, ""])[1]
    if "account status" in q:
        status = (re.search(r"'(.+?)'", question) or [None, ""])[1]
        obs = yield _search(agent, f"{team} team sync account status {status}", 10)
        latest: dict[str, tuple] = {}
        for h in agent.pick([h for h in obs.get("results", []) if h["title"].startswith(
                f"{team} team sync")], agent.reads + 2):
            doc = yield {"tool": "read", "doc_id": h["doc_id"]}
            note = X.meeting_note(doc.get("content", ""))
            for cust, st in note["statuses"]:
                if note["date"] and (cust not in latest or note["date"] > latest[cust][0]):
                    latest[cust] = (note["date"], st)
            state["guess"] = str(sum(st == status for _, st in latest.values()))
        return
    person = (re.search(r"assigned to (.+?) in the", question) or
              re.search(r"did (.+?) receive", question) or [None, ""])[1]
    period = (re.search(r"(Q[1-4] \d{4}|\b\d{4}\b)", question) or [None, ""])[1]
    if not person:
        yield from _team_count(agent, team, period, "not cancelled" in q, state)
        return
    obs = yield _search(agent, f"{person} {team} team sync {period}", 10)
    count = 0
    for h in agent.pick([h for h in obs.get("results", []) if h["title"].startswith(
            f"{team} team sync")], agent.reads + 2):
        doc = yield {"tool": "read", "doc_id": h["doc_id"]}
        note = X.meeting_note(doc.get("content", ""))
        d = note["date"]
        mine = (lambda owner: owner == person) if person else (lambda owner: True)  # noqa: E731
        if d and (period == str(d.year) or period == f"Q{(d.month - 1) // 3 + 1} {d.year}"):
            count += sum(mine(owner) for owner, _ in note["actions"])
        if "not cancelled" in q:
            count -= sum(mine(owner) for owner, _ in note["cancelled"])
        state["guess"] = str(max(count, 0))


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def _quarter_of(d) -> str:
    return f"Q{(d.month - 1) // 3 + 1} {d.year}"


def _team_count(agent: HeuristicAgent, team: str, period: str, net: bool,
                state: dict) -> Script:
    """A team's action items in one quarter: the team's notes are found by title date (a
    query cannot name a quarter), all of the period's notes are read, and for `net` the
    next few notes too, whose cancellations of the period's items are subtracted."""
    months = ""
    if (m := re.match(r"Q([1-4]) (\d{4})", period)):  # long-form titles name the month
        k = int(m.group(1))
        months = " ".join(MONTHS[3 * k - 3:3 * k]) + " " + m.group(2)
    hits: dict[str, dict] = {}
    for query in (f"{team} team sync action items", f"{team} team sync {months}"):
        obs = yield _search(agent, query, 20)
        hits.update((h["doc_id"], h) for h in obs.get("results", []))
    dated = sorted((d, h["doc_id"]) for h in hits.values()
                   if h["title"].startswith(f"{team} team sync")
                   and (d := X.parse_date(h["title"])))
    inside = [i for d, i in dated if _quarter_of(d) == period or str(d.year) == period]
    last = max((d for d, i in dated if i in inside), default=None)
    later = [i for d, i in dated if last and d > last][:3] if net else []
    items: list[tuple[str, str]] = []
    cancelled: set[tuple[str, str]] = set()
    for doc_id in agent.pick([{"doc_id": i} for i in inside], len(inside)) + \
            [{"doc_id": i} for i in later]:
        doc = yield {"tool": "read", "doc_id": doc_id["doc_id"]}
        note = X.meeting_note(doc.get("content", ""))
        if doc_id["doc_id"] in inside:
            items += note["actions"]
        cancelled.update(note["cancelled"])
        state["guess"] = str(len(items) - sum(it in cancelled for it in items) if net
                             else len(items))


SCRIPTS = {"constraint": constraint, "report": report, "numeric": numeric,
           "exhaustive": exhaustive, "procedure": procedure, "aggregate": aggregate}
