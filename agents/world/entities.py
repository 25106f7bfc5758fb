"""Ground-truth records of the generated enterprise.

Input: none (plain data holders). Output: dataclasses that the generator fills and the
renderer, the task generators and the graders read. Invariants: ids are unique within their
kind; every cross-reference (manager, owner, team, customer, product, note) names an existing
record; dates are `datetime.date`; money is integer US dollars.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Person:
    pid: str
    name: str
    role: str
    team: str
    department: str
    location: str
    manager: str | None  # pid of the manager; None for department heads
    start: date


@dataclass
class Team:
    name: str
    department: str
    lead: str  # pid
    members: list[str] = field(default_factory=list)  # pids, lead first


@dataclass
class Snapshot:
    """An older state of a customer account, rendered as an archived (stale) profile."""
    as_of: date
    owner: str
    employees: int
    revenue: int
    size: str


@dataclass
class Customer:
    cid: str
    name: str
    industry: str
    region: str
    hq_city: str
    size: str
    employees: int
    revenue: int  # annual revenue, USD
    founded: int
    since: date  # customer since
    owner: str  # account owner pid
    products: list[str]
    previous: Snapshot | None = None


@dataclass
class Product:
    name: str
    line: str
    cli: str
    versions: list[str]
    released: list[date]


@dataclass
class Deal:
    did: str
    customer: str  # cid
    product: str
    amount: int
    stage: str
    owner: str  # pid
    created: date
    close: date


@dataclass
class FinanceRow:
    division: str
    segment: str
    quarter: str  # "2023-Q2"
    revenue: int
    cost: int  # cost of revenue
    opex: int
    headcount: int

    @property
    def gross_profit(self) -> int:
        return self.revenue - self.cost

    @property
    def operating_income(self) -> int:
        return self.revenue - self.cost - self.opex


@dataclass
class RunbookVariant:
    versions: list[str]
    steps: list[str]


@dataclass
class Runbook:
    rid: str
    product: str
    code: str  # "E-4312"
    message: str
    component: str
    variants: list[RunbookVariant]


@dataclass
class FieldUpdate:
    note: str  # nid that recorded the decision
    date: date
    value: str  # canonical text: ISO date, integer dollars, or a pid


@dataclass
class Project:
    name: str
    team: str
    history: dict[str, list[FieldUpdate]]  # field -> updates, oldest first


@dataclass
class ActionItem:
    aid: str
    note: str
    owner: str  # pid
    text: str
    due: date
    cancelled_in: str | None = None  # nid of the note that cancelled it


@dataclass
class Note:
    nid: str
    team: str
    date: date
    attendees: list[str]
    decisions: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    # (project, field, value, nid it supersedes or None)
    actions: list[str] = field(default_factory=list)  # aids created here
    cancels: list[str] = field(default_factory=list)  # aids cancelled here
    statuses: list[tuple[str, str]] = field(default_factory=list)  # (cid, account status)


@dataclass
class Document:
    """One searchable document. `refs` names the records it renders (ground truth only:
    the tools never show it) so tasks can list their gold documents."""
    doc_id: str
    title: str
    text: str
    kind: str
    refs: tuple[str, ...] = ()


@dataclass
class World:
    seed: int
    scale: int
    people: dict[str, Person]
    teams: dict[str, Team]
    customers: dict[str, Customer]
    products: dict[str, Product]
    deals: dict[str, Deal]
    finance: list[FinanceRow]
    runbooks: dict[str, Runbook]
    prereqs: dict[str, list[str]]  # product -> prerequisite steps for all its runbooks
    projects: dict[str, Project]
    notes: dict[str, Note]
    actions: dict[str, ActionItem]
    docs: list[Document] = field(default_factory=list)
    by_ref: dict[str, list[str]] = field(default_factory=dict)  # ref -> doc ids
    # product -> shared procedure name -> steps; runbook steps may refer to them by name
    procedures: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def doc(self, doc_id: str) -> Document:
        return self._by_id[doc_id]

    def index_docs(self) -> None:
        """Fill the id and ref lookups; call once after rendering."""
        self._by_id = {d.doc_id: d for d in self.docs}
        self.by_ref = {}
        for d in self.docs:
            for r in d.refs:
                self.by_ref.setdefault(r, []).append(d.doc_id)

    def docs_for(self, *refs: str) -> list[str]:
        """Doc ids rendering any of `refs`, without repeats, in ref order."""
        out: list[str] = []
        for r in refs:
            for d in self.by_ref.get(r, ()):
                if d not in out:
                    out.append(d)
        return out

    def expand_steps(self, product: str, steps: list[str]) -> list[str]:
        """Steps with every 'Perform the <product> <name> procedure' replaced by its steps."""
        out: list[str] = []
        for s in steps:
            m = re.match(rf"Perform the {re.escape(product)} (.+?) procedure \(see", s)
            out += self.procedures[product][m.group(1)] if m else [s]
        return out

    def person_by_name(self) -> dict[str, Person]:
        return {p.name: p for p in self.people.values()}

    def quarters(self) -> list[str]:
        return sorted({r.quarter for r in self.finance})

    def divisions(self) -> list[str]:
        return sorted({r.division for r in self.finance})
