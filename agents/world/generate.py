"""Generate the enterprise's structured ground truth (no text).

Input: `seed` and `scale` (approximate number of documents the renderer will produce).
Output: a `World` with people, teams, customers, products, deals, quarterly finance rows and
runbooks filled; notes and projects come from `generate_ops`. Invariants: the same
(seed, scale) always yields the same records; each component draws from its own
`random.Random(f"{seed}:{component}")`, so adding a component never perturbs another.
"""
from __future__ import annotations

import random
from datetime import date, timedelta

from . import names as N
from .entities import (Customer, Deal, FinanceRow, Person, Product, Runbook, RunbookVariant,
                       Snapshot, Team, World)

QUARTERS = tuple(f"{y}-Q{q}" for y in (2021, 2022, 2023) for q in (1, 2, 3, 4))
_DEPT_WEIGHTS = (0.4, 0.2, 0.1, 0.1, 0.08, 0.12)  # order of names.DEPARTMENTS


def units(scale: int) -> float:
    """How many default-sized (2,000-document) worlds `scale` amounts to."""
    return max(scale, 100) / 2000.0


def random_date(rng: random.Random, lo: date, hi: date) -> date:
    return lo + timedelta(days=rng.randint(0, (hi - lo).days))


def size_for(employees: int) -> str:
    return "SMB" if employees < 200 else "Mid-Market" if employees < 2000 else "Enterprise"


def make_people(seed: int, u: float) -> tuple[dict[str, Person], dict[str, Team]]:
    rng = random.Random(f"{seed}:people")
    n_teams = max(6, round(20 * u))
    team_names = N.unique_names(rng, n_teams, N.team_name)
    depts = list(N.DEPARTMENTS)
    # Every department gets at least one team; the rest are drawn by weight.
    team_depts = depts + rng.choices(depts, _DEPT_WEIGHTS, k=n_teams - len(depts))
    sizes = [rng.randint(8, 18) for _ in team_names]
    all_names = iter(N.unique_names(rng, sum(sizes), N.person_name))
    people: dict[str, Person] = {}
    teams: dict[str, Team] = {}
    heads: dict[str, str] = {}
    for t, (tname, dept, size) in enumerate(zip(team_names, team_depts, sizes)):
        office = rng.choice(N.OFFICES)
        team = Team(tname, dept, lead="")
        roles = N.ROLES[dept]
        for m in range(size):
            pid = f"P{len(people):05d}"
            lead = m == 0
            role = roles[-1] if lead and "Manager" in roles[-1] else rng.choice(roles[:-1])
            if lead and "Manager" not in role:
                role = f"{dept} Lead"
            loc = office if rng.random() < 0.7 else rng.choice(N.OFFICES)
            manager = team.lead if not lead else heads.get(dept)
            start = random_date(rng, date(2012, 1, 1), date(2024, 3, 31))
            people[pid] = Person(pid, next(all_names), role, tname, dept, loc, manager, start)
            if lead:
                team.lead = pid
                heads.setdefault(dept, pid)
            team.members.append(pid)
        teams[tname] = team
    return people, teams


def make_products(seed: int, u: float) -> dict[str, Product]:
    rng = random.Random(f"{seed}:products")
    out: dict[str, Product] = {}
    for name in N.unique_names(rng, max(4, round(6 * u)), N.product_name):
        major = rng.randint(1, 5)
        versions = [f"{major}.{i}" for i in range(rng.randint(2, 4))]
        versions += [f"{major + 1}.{i}" for i in range(rng.randint(1, 2))]
        day = random_date(rng, date(2019, 1, 1), date(2020, 12, 31))
        released = []
        for _ in versions:
            released.append(day)
            day += timedelta(days=rng.randint(60, 200))
        out[name] = Product(name, rng.choice(N.PRODUCT_LINES), name.lower() + "ctl", versions,
                            released)
    return out


def make_customers(seed: int, u: float, people: dict[str, Person],
                   products: dict[str, Product]) -> dict[str, Customer]:
    rng = random.Random(f"{seed}:customers")
    sellers = [p.pid for p in people.values() if p.department == "Sales"]
    pnames = list(products)
    out: dict[str, Customer] = {}
    for i, name in enumerate(N.unique_names(rng, max(30, round(200 * u)), N.company_name)):
        region = rng.choice(N.REGIONS)
        size = rng.choices(N.SIZES, (0.4, 0.35, 0.25))[0]
        lo, hi = {"SMB": (20, 199), "Mid-Market": (200, 1999), "Enterprise": (2000, 60000)}[size]
        employees = rng.randint(lo, hi)
        revenue = round(employees * rng.uniform(80_000, 320_000), -4)
        prev = None
        if rng.random() < 0.3:
            f = rng.uniform(0.55, 0.9)
            prev_emp = max(10, int(employees * f))
            prev = Snapshot(random_date(rng, date(2020, 1, 1), date(2021, 12, 31)),
                            rng.choice(sellers), prev_emp, int(round(revenue * f, -4)),
                            size_for(prev_emp))
        out[f"C{i:05d}"] = Customer(
            f"C{i:05d}", name, rng.choice(N.INDUSTRIES), region,
            rng.choice(N.REGION_CITIES[region]), size, employees, int(revenue),
            rng.randint(1950, 2018), random_date(rng, date(2015, 1, 1), date(2023, 12, 31)),
            rng.choice(sellers), sorted(rng.sample(pnames, rng.randint(1, min(3, len(pnames))))),
            prev)
        if prev is not None and prev.owner == out[f"C{i:05d}"].owner:
            prev.owner = rng.choice([s for s in sellers if s != prev.owner] or sellers)
    return out


def make_deals(seed: int, u: float, customers: dict[str, Customer],
               people: dict[str, Person]) -> dict[str, Deal]:
    rng = random.Random(f"{seed}:deals")
    sellers = [p.pid for p in people.values() if p.department == "Sales"]
    cids = list(customers)
    out: dict[str, Deal] = {}
    for i in range(max(30, round(300 * u))):
        c = customers[rng.choice(cids)]
        created = random_date(rng, date(2021, 1, 1), date(2023, 12, 31))
        out[f"DL-{1000 + i}"] = Deal(
            f"DL-{1000 + i}", c.cid, rng.choice(c.products),
            int(round(10 ** rng.uniform(4, 6.3), -3)),
            rng.choices(N.DEAL_STAGES, (0.12, 0.14, 0.16, 0.14, 0.28, 0.16))[0],
            c.owner if rng.random() < 0.8 else rng.choice(sellers), created,
            created + timedelta(days=rng.randint(30, 240)))
    return out


def make_finance(seed: int, u: float) -> list[FinanceRow]:
    rng = random.Random(f"{seed}:finance")
    n_div = max(2, round(2 * u))
    divisions = N.unique_names(
        rng, n_div, lambda r, a: r.choice(N.DIVISION_WORDS) if a < 40 else N.syllable_word(r, 3))
    rows: list[FinanceRow] = []
    for div in divisions:
        for seg in rng.sample(N.SEGMENTS, 4):
            rev = rng.uniform(2e6, 40e6)
            cost_r, opex_r = rng.uniform(0.3, 0.65), rng.uniform(0.12, 0.3)
            head = rng.randint(20, 400)
            for q in QUARTERS:
                rev *= 1 + rng.uniform(-0.05, 0.09)
                r = int(round(rev, -3))
                rows.append(FinanceRow(
                    div, seg, q, r, int(round(r * (cost_r + rng.uniform(-0.04, 0.04)), -3)),
                    int(round(r * (opex_r + rng.uniform(-0.03, 0.03)), -3)),
                    max(5, head + rng.randint(-15, 20))))
    return rows


def _fill(template: str, rng: random.Random, product: Product, component: str,
          code: str) -> str:
    return template.format(component=component, cli=product.cli,
                           slug=component.replace(" ", "-").lower(), code=code,
                           n=rng.choice((2, 3, 4, 5, 8, 10, 15, 16, 30, 32, 64)),
                           product=product.name, lower=product.name.lower())


def reference_step(product: str, procedure: str) -> str:
    """How a runbook step refers to a shared procedure (World.expand_steps undoes it)."""
    return f"Perform the {product} {procedure} procedure (see '{product} procedure: {procedure}')"


def make_runbooks(seed: int, products: dict[str, Product]) -> tuple[
        dict[str, Runbook], dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    rng = random.Random(f"{seed}:runbooks")
    codes = iter(rng.sample(range(1000, 10000), 9000))
    runbooks: dict[str, Runbook] = {}
    prereqs: dict[str, list[str]] = {}
    procedures: dict[str, dict[str, list[str]]] = {}
    for prod in products.values():
        prereqs[prod.name] = [_fill(t, rng, prod, prod.name.lower(), "") for t in
                              rng.sample(N.PREREQ_TEMPLATES, rng.randint(2, 3))]
        procedures[prod.name] = {name: [_fill(t, rng, prod, "", "") for t in steps]
                                 for name, steps in N.SUBPROCEDURES.items()}
        for _ in range(rng.randint(8, 14)):
            code = f"E-{next(codes)}"
            component = rng.choice(N.COMPONENTS)
            base = [_fill(t, rng, prod, component, code)
                    for t in rng.sample(N.STEP_TEMPLATES, rng.randint(4, 7))]
            if rng.random() < 0.4:
                base.insert(rng.randrange(1, len(base)),
                            reference_step(prod.name, rng.choice(list(N.SUBPROCEDURES))))
            n_var = min(len(prod.versions), rng.choices((1, 2, 3), (0.45, 0.4, 0.15))[0])
            cuts = sorted(rng.sample(range(1, len(prod.versions)), n_var - 1))
            bounds = [0] + cuts + [len(prod.versions)]
            variants = []
            steps = base
            for a, b in zip(bounds, bounds[1:]):
                variants.append(RunbookVariant(prod.versions[a:b], list(steps)))
                steps = _mutate(rng, steps, prod, component, code)
            rid = f"RB-{len(runbooks):04d}"
            runbooks[rid] = Runbook(rid, prod.name, code,
                                    f"{component} {rng.choice(N.SYMPTOMS)}", component,
                                    variants)
    return runbooks, prereqs, procedures


def _mutate(rng: random.Random, steps: list[str], prod: Product, component: str,
            code: str) -> list[str]:
    """The next version's procedure: one or two edits of the previous one."""
    steps = list(steps)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(("insert", "replace", "swap"))
        unused = [t for t in N.STEP_TEMPLATES if not any(s.startswith(t.split("{")[0])
                                                         for s in steps)]
        fresh = _fill(rng.choice(unused), rng, prod, component, code)
        if op == "swap" and len(steps) > 2:
            i = rng.randrange(len(steps) - 1)
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
        elif fresh not in steps:
            i = rng.randrange(len(steps) + (op == "insert"))
            if op == "insert":
                steps.insert(i, fresh)
            else:
                steps[min(i, len(steps) - 1)] = fresh
    return steps


def generate_entities(seed: int, scale: int) -> World:
    """Every structured record except notes and projects (see generate_ops)."""
    u = units(scale)
    people, teams = make_people(seed, u)
    products = make_products(seed, u)
    customers = make_customers(seed, u, people, products)
    runbooks, prereqs, procedures = make_runbooks(seed, products)
    return World(seed=seed, scale=scale, people=people, teams=teams, customers=customers,
                 products=products, deals=make_deals(seed, u, customers, people),
                 finance=make_finance(seed, u), runbooks=runbooks, prereqs=prereqs,
                 projects={}, notes={}, actions={}, procedures=procedures)
