"""Render people, customers, deals, finance and products into documents.

Input: a generated `World` and a `random.Random`. Output: lists of `Document` (ids assigned
later by `build_world`). Invariants: every rendered fact equals the ground truth except in
documents that say so themselves (archived snapshots, preliminary figures); each template has
paraphrases, and each document lists in `refs` the records it states facts about: a primary
document (profile, deal record, statement) as `kind:id`, a listing that repeats facts in a
table row (roster, directory, pipeline page) as `in_<listing>:id`.
"""
from __future__ import annotations

import random
from datetime import date

from .entities import Document, FinanceRow, World

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def fmt_date(d: date, style: int) -> str:
    if style % 3 == 0:
        return d.isoformat()
    if style % 3 == 1:
        return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
    return f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}"


def fmt_money(v: int, style: int) -> str:
    if style % 3 == 0 or abs(v) < 1_000_000:
        return f"${v:,}"
    if style % 3 == 1:  # exact for multiples of $1,000, which all amounts are
        return f"${v / 1e6:,.3f}".rstrip("0").rstrip(".") + " million"
    return f"USD {v:,}"


def quarter_words(q: str) -> str:
    """'2023-Q2' -> 'Q2 2023'."""
    y, k = q.split("-")
    return f"{k} {y}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def pages(rows: list, per: int) -> list[list]:
    return [rows[i:i + per] for i in range(0, len(rows), per)] or [[]]


def render_people(world: World, rng: random.Random) -> list[Document]:
    docs = []
    name = {p.pid: p.name for p in world.people.values()}
    for p in world.people.values():
        mgr = name.get(p.manager, "the department head") if p.manager else "the COO"
        s = rng.randrange(3)
        start = fmt_date(p.start, rng.randrange(3))
        if s == 0:
            title = p.name
            body = (f"{p.name} is a {p.role} on the {p.team} team ({p.department}), based in "
                    f"the {p.location} office. Joined the company on {start}; reports to {mgr}.")
        elif s == 1:
            title = f"Employee profile: {p.name}"
            body = "\n".join([f"- Role: {p.role}", f"- Team: {p.team}",
                              f"- Department: {p.department}", f"- Office: {p.location}",
                              f"- Manager: {mgr}", f"- Start date: {start}"])
        else:
            title = f"{p.name} ({p.role})"
            body = (f"Working out of {p.location}, {p.name} has been with {p.department} "
                    f"since {start} and is currently on the {p.team} team, reporting to {mgr}.")
        docs.append(Document("", title, f"# {title}\n\n{body}\n", "person",
                             (f"person:{p.pid}",)))
    for t in world.teams.values():
        rows = [[name[m], world.people[m].role, world.people[m].location,
                 world.people[m].start.isoformat()] for m in t.members]
        title = f"{t.name} team roster"
        text = (f"# {title}\n\nDepartment: {t.department}. Team lead: {name[t.lead]}.\n\n"
                + table(["Name", "Role", "Office", "Start date"], rows) + "\n")
        docs.append(Document("", title, text, "roster",
                             (f"roster:{t.name}",) + tuple(f"in_roster:{m}" for m in t.members)))
    return docs


def _customer_body(name: str, c, owner: str, style: int, employees: int, revenue: int,
                   size: str) -> str:
    prods = ", ".join(c.products)
    since = fmt_date(c.since, style)
    if style % 2 == 0:
        return "\n".join([f"- Industry: {c.industry}", f"- Region: {c.region}",
                          f"- Headquarters: {c.hq_city}", f"- Segment: {size}",
                          f"- Employees: {employees:,}",
                          f"- Annual revenue: {fmt_money(revenue, style)}",
                          f"- Founded: {c.founded}", f"- Customer since: {since}",
                          f"- Account owner: {owner}", f"- Products in use: {prods}"])
    article = "an" if size[0] in "AEIOU" else "a"
    return (f"{name} is {article} {size} company in the {c.industry} industry, headquartered in "
            f"{c.hq_city} ({c.region} region). Founded in {c.founded}, it has about "
            f"{employees:,} employees and annual revenue of {fmt_money(revenue, style)}. It "
            f"has been a customer since {since} and uses {prods}. The account owner is "
            f"{owner}.")


def render_customers(world: World, rng: random.Random) -> list[Document]:
    docs = []
    pname = {p.pid: p.name for p in world.people.values()}
    for c in world.customers.values():
        s = rng.randrange(6)
        title = f"Account profile: {c.name}"
        body = _customer_body(c.name, c, pname[c.owner], s, c.employees, c.revenue, c.size)
        docs.append(Document("", title, f"# {title}\n\n{body}\n", "customer",
                             (f"customer:{c.cid}",)))
        if c.previous is not None:
            p = c.previous
            title = f"[ARCHIVED] Account profile: {c.name} (snapshot {p.as_of.isoformat()})"
            body = _customer_body(c.name, c, pname[p.owner], rng.randrange(6), p.employees,
                                  p.revenue, p.size)
            note = ("This page is an archived snapshot and is no longer maintained; figures "
                    "and ownership may be out of date. See the current account profile.")
            docs.append(Document("", title, f"# {title}\n\n{note}\n\n{body}\n", "archived",
                                 (f"archived:{c.cid}",)))
    for region in sorted({c.region for c in world.customers.values()}):
        members = sorted((c for c in world.customers.values() if c.region == region),
                         key=lambda c: c.name)
        chunks = pages(members, 25)
        for i, chunk in enumerate(chunks):
            title = f"Customer directory: {region} (page {i + 1} of {len(chunks)})"
            rows = [[c.name, c.industry, c.size, c.hq_city] for c in chunk]
            text = f"# {title}\n\n" + table(["Customer", "Industry", "Size", "HQ"], rows) + "\n"
            docs.append(Document("", title, text, "directory",
                                 tuple(f"in_directory:{c.cid}" for c in chunk)))
    return docs


def render_deals(world: World, rng: random.Random) -> list[Document]:
    docs = []
    pname = {p.pid: p.name for p in world.people.values()}
    for d in world.deals.values():
        c = world.customers[d.customer]
        s = rng.randrange(3)
        title = f"Deal {d.did}: {c.name} / {d.product}"
        text = (f"# {title}\n\n- Customer: {c.name}\n- Product: {d.product}\n- Stage: {d.stage}"
                f"\n- Amount: {fmt_money(d.amount, s)}\n- Owner: {pname[d.owner]}\n"
                f"- Created: {fmt_date(d.created, s)}\n- Expected close: "
                f"{fmt_date(d.close, s + 1)}\n")
        docs.append(Document("", title, text, "deal", (f"deal:{d.did}",)))
        if rng.random() < 0.25:  # a paraphrased e-mail about the same deal
            title = f"Re: {c.name} {d.product} opportunity"
            text = (f"# {title}\n\nHi all, quick update on {d.did}: the {d.product} deal with "
                    f"{c.name} is now at the {d.stage} stage, valued at "
                    f"{fmt_money(d.amount, s + 1)}. {pname[d.owner]} is driving it.\n")
            docs.append(Document("", title, text, "email", (f"deal:{d.did}",)))
    by_q: dict[str, list] = {}
    for d in world.deals.values():
        by_q.setdefault(f"{d.created.year}-Q{(d.created.month - 1) // 3 + 1}", []).append(d)
    for q, deals in sorted(by_q.items()):
        chunks = pages(sorted(deals, key=lambda d: d.did), 30)
        for i, chunk in enumerate(chunks):
            title = (f"Sales pipeline: deals created in {quarter_words(q)} "
                     f"(page {i + 1} of {len(chunks)})")
            rows = [[d.did, world.customers[d.customer].name, d.product, d.stage,
                     f"{d.amount:,}", pname[d.owner]] for d in chunk]
            text = f"# {title}\n\n" + table(["Deal", "Customer", "Product", "Stage",
                                             "Amount (USD)", "Owner"], rows) + "\n"
            docs.append(Document("", title, text, "pipeline",
                                 tuple(f"in_pipeline:{d.did}" for d in chunk)))
    return docs


FIN_HEADER = ["Segment", "Revenue", "Cost of revenue", "Operating expenses",
              "Operating income", "Headcount"]


def _fin_rows(rows: list[FinanceRow]) -> list[list[str]]:
    out = [[r.segment, f"{r.revenue // 1000:,}", f"{r.cost // 1000:,}", f"{r.opex // 1000:,}",
            f"{r.operating_income // 1000:,}", str(r.headcount)] for r in rows]
    tot = [sum(getattr(r, a) for r in rows) // 1000
           for a in ("revenue", "cost", "opex", "operating_income")]
    out.append(["Total"] + [f"{v:,}" for v in tot] + [str(sum(r.headcount for r in rows))])
    return out


def _perturb(r: FinanceRow, rng: random.Random, lo: float, hi: float) -> FinanceRow:
    """The row with revenue, cost and opex each off by a factor 1 +- [lo, hi]."""
    def f(v: int) -> int:
        return int(round(v * (1 + rng.choice((-1, 1)) * rng.uniform(lo, hi)), -3))
    return FinanceRow(r.division, r.segment, r.quarter, f(r.revenue), f(r.cost), f(r.opex),
                      r.headcount)


def render_finance(world: World, rng: random.Random) -> list[Document]:
    docs = []
    groups: dict[tuple[str, str], list[FinanceRow]] = {}
    for r in world.finance:
        groups.setdefault((r.division, r.quarter), []).append(r)
    for (div, q), rows in sorted(groups.items()):
        qw = quarter_words(q)
        title = f"{div} division: quarterly financial statement, {qw}"
        if rng.random() < 0.25:
            # Restated quarter: the statement as first published carries errors in one or two
            # segments; a later restatement holds the true figures and says it supersedes it.
            wrong = set(rng.sample(range(len(rows)), rng.randint(1, 2)))
            orig = [_perturb(r, rng, 0.02, 0.06) if i in wrong else r
                    for i, r in enumerate(rows)]
            text = (f"# {title}\n\nFigures for {qw} as originally published. All amounts in "
                    f"USD thousands.\n\n" + table(FIN_HEADER, _fin_rows(orig)) + "\n")
            docs.append(Document("", title, text, "finance_original",
                                 (f"finance_original:{div}:{q}",)))
            title = f"{div} division: restated quarterly financial statement, {qw}"
            text = (f"# {title}\n\nThis restatement supersedes the statement originally "
                    f"published for {qw}; corrected segment figures below. All amounts in USD "
                    f"thousands.\n\n" + table(FIN_HEADER, _fin_rows(rows)) + "\n")
        else:
            text = (f"# {title}\n\nFinal figures for {qw}. All amounts in USD thousands.\n\n"
                    + table(FIN_HEADER, _fin_rows(rows)) + "\n")
        docs.append(Document("", title, text, "finance", (f"finance:{div}:{q}",)))
        # Preliminary flash numbers differ from the final ones by a few percent.
        fake = [_perturb(r, rng, 0.0, 0.07) for r in rows]
        title = f"{div} division: preliminary flash results, {qw}"
        text = (f"# {title}\n\nPRELIMINARY and unaudited estimates for {qw}, superseded by the "
                f"final quarterly statement. All amounts in USD thousands.\n\n"
                + table(FIN_HEADER, _fin_rows(fake)) + "\n")
        docs.append(Document("", title, text, "flash", (f"flash:{div}:{q}",)))
    for div in world.divisions():
        for year in sorted({q[:4] for (d, q) in groups if d == div}):
            lines = []
            for (d, q), rows in sorted(groups.items()):
                if d == div and q.startswith(year):
                    best = max(rows, key=lambda r: r.revenue)
                    lines.append(f"In {quarter_words(q)}, {best.segment} was the largest "
                                 f"segment with revenue of about "
                                 f"${best.revenue / 1e6:.1f} million.")
            title = f"{div} division: {year} commentary"
            docs.append(Document("", title, f"# {title}\n\n" + " ".join(lines) + "\n",
                                 "commentary", (f"commentary:{div}:{year}",)))
    return docs


def render_products(world: World, rng: random.Random) -> list[Document]:
    docs = []
    codes: dict[str, list] = {}
    for rb in world.runbooks.values():
        codes.setdefault(rb.product, []).append(rb)
    for p in world.products.values():
        title = f"{p.name} product overview"
        rows = [[v, d.isoformat()] for v, d in zip(p.versions, p.released)]
        text = (f"# {title}\n\n{p.name} is our {p.line}. Administrators use the `{p.cli}` "
                f"command-line tool.\n\n" + table(["Version", "Released"], rows) + "\n")
        docs.append(Document("", title, text, "product", (f"product:{p.name}",)))
        for v, d in zip(p.versions, p.released):
            fixed = rng.sample(codes.get(p.name, []), min(2, len(codes.get(p.name, []))))
            notes = "; ".join(f"fixed a rare {rb.code} ({rb.message}) in the {rb.component}"
                              for rb in fixed) or "stability improvements"
            title = f"{p.name} {v} release notes"
            text = (f"# {title}\n\nReleased {fmt_date(d, rng.randrange(3))}. Changes: "
                    f"{notes}.\n")
            docs.append(Document("", title, text, "release", (f"release:{p.name}:{v}",)))
    return docs
