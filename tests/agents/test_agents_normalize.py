"""Number, date, name and list parsing shared by the graders (property-based)."""
from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.tasks.normalize import (find_quantities, normalize_name, number_matches,
                                    parse_date, parse_quantity, split_items)
from agents.world.render import fmt_date, fmt_money

money = st.integers(min_value=1, max_value=10**10).map(lambda v: v * 1000)


@given(money, st.integers(0, 2))
def test_rendered_money_parses_exactly(v, style):
    q = parse_quantity(fmt_money(v, style))
    assert q is not None and q.value == v and not q.percent


@given(money)
def test_money_formats_match_within_tolerance(v):
    for text in (f"${v:,}", f"{v:,} USD", f"USD {v}", f"about ${v / 1e6:.4f}M",
                 f"{v / 1e3:.3f}k dollars", f"The answer is ${v:,}."):
        assert number_matches(v, text, "money", 0.01), text
    assert not number_matches(v, f"${v * 1.02:,.0f}", "money", 0.01)


@given(st.floats(min_value=-500, max_value=500, allow_nan=False).map(lambda x: round(x, 2)))
def test_percent_formats(p):
    assert number_matches(p, f"{p}%", "percent", 0.01, 0.05)
    assert number_matches(p, f"{p} percent", "percent", 0.01, 0.05)
    assert number_matches(p, f"{p / 100:.6f}", "percent", 0.01, 0.05)  # a fraction
    wrong = round(p + 0.02 * abs(p) + 0.1, 2)  # outside max(1% relative, 0.05 points)
    assert not number_matches(p, f"{wrong}%", "percent", 0.01, 0.05)


def test_number_examples_from_the_issue():
    assert parse_quantity("1.2M").value == 1_200_000
    assert parse_quantity("$1,200,000").value == 1_200_000
    q = parse_quantity("12%")
    assert q.value == 12 and q.percent
    assert parse_quantity("1.5 billion").value == 1.5e9
    assert parse_quantity("(1,234)").value == -1234  # accounting negative
    assert parse_quantity("-3.5%").value == -3.5
    assert parse_quantity("three").value == 3
    assert parse_quantity("DL-1042") is None and parse_quantity("E-4312 on 3.2x") is not None
    assert [q.value for q in find_quantities("Q2 2023 revenue was $12.3M")] == [2023, 12.3e6]
    # the last number answers; the kind asked breaks ties in a sentence with both
    assert number_matches(12.5, "grew 12.5% to $11.25M", "percent")
    assert number_matches(11.25e6, "grew 12.5% to $11.25M", "money")


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31)), st.integers(0, 2))
def test_dates_round_trip_in_every_rendered_style(d, style):
    assert parse_date(fmt_date(d, style)) == d
    assert parse_date(f"It moved to {fmt_date(d, style)}.") == d


def test_date_edge_cases():
    assert parse_date("the 5th of March 2024") == date(2024, 3, 5)
    assert parse_date("Sept 9, 2023") == date(2023, 9, 9)
    assert parse_date("Feb 30, 2024") is None
    assert parse_date("no date here") is None


def test_name_normalisation():
    assert normalize_name("Doe, Jane") == normalize_name("jane  DOE") == "jane doe"
    assert normalize_name("The Norvex Group, Inc.") == "norvex group"
    assert normalize_name("Zoë Müller") == "zoe muller"
    assert normalize_name("Norvex Labs") != normalize_name("Norvex Group")


def test_split_items():
    assert split_items("1. Do a 2. Do b, then c 3. Done", commas=False) == \
        ["Do a", "Do b, then c", "Done"]
    assert split_items("- A Group\n- B Labs", commas=False) == ["A Group", "B Labs"]
    assert split_items("A Group, B Labs and C Works", commas=True) == \
        ["A Group", "B Labs", "C Works"]
    assert split_items(["x", " y "], commas=True) == ["x", "y"]


@settings(max_examples=300)
@given(st.one_of(st.text(), st.lists(st.text()), st.integers(), st.floats(), st.none(),
                 st.dictionaries(st.text(), st.text())))
def test_parsers_are_total(x):
    """Any input: no exception, and results of the documented types and invariants."""
    qs = find_quantities(x)
    assert isinstance(qs, list) and all(isinstance(q.value, float) and isinstance(q.percent, bool)
                                        for q in qs)
    q = parse_quantity(x)
    if isinstance(x, str):   # the answer's number is the last one mentioned
        assert q == (qs[-1] if qs else None)
    elif isinstance(x, float) and x != x:
        assert q is None
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        assert q is not None and q.value == float(x) and not q.percent
    d = parse_date(x)
    assert d is None or isinstance(d, date)
    name = normalize_name(x)
    assert isinstance(name, str) and name == name.strip() and "  " not in name
    assert normalize_name(name) == name or "," in str(x)   # idempotent once normalised
    items = split_items(x, commas=True)
    assert isinstance(items, list) and all(isinstance(i, str) and i and i == i.strip() for i in items)
    for i in items:   # no item still holds a separator it was split on (lists and dicts
        # pass through as items, split on commas only)
        assert "," not in i and (not isinstance(x, str) or ("\n" not in i and ";" not in i))
