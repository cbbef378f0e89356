"""Amounts and dates as Yuki may write them: dot or comma decimals, groups, empty dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.providers.yuki.api.faults import DEFAULT_FAULT_RULES, Fault, FaultKind, fault_error, redact
from bot.providers.yuki.api.values import ValueProblem, parse_amount, parse_currency, parse_date


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1210.00", "1210.00"),
        ("1210,50", "1210.50"),
        ("-1210,5", "-1210.5"),
        ("1.234.567,89", "1234567.89"),
        ("1,234,567.89", "1234567.89"),
        (" 42 ", "42"),
        ("1\u00a0234,00", "1234.00"),
        ("0.0001", "0.0001"),
    ],
)
def test_amount_formats(raw: str, expected: str) -> None:
    assert parse_amount(raw, "OpenAmount") == Decimal(expected)


@pytest.mark.parametrize(
    "raw", ["", "   ", "abc", "12.34.56", "1,2,3", "NaN", "Infinity", "1e5", "--5", "0.00001", "1" * 14]
)
def test_amounts_that_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        parse_amount(raw, "OpenAmount")

    assert "OpenAmount" in str(caught.value)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_any_two_decimal_amount_round_trips_with_either_separator(value: Decimal) -> None:
    dotted = f"{value:.2f}"
    assert parse_amount(dotted, "x") == value
    assert parse_amount(dotted.replace(".", ","), "x") == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-02-09", dt.date(2025, 2, 9)),
        ("2025-02-09T00:00:00", dt.date(2025, 2, 9)),
        ("2025-02-09T00:00:00+01:00", dt.date(2025, 2, 9)),
        ("", None),
        (None, None),
        ("0001-01-01T00:00:00", None),
    ],
)
def test_dates(raw: str | None, expected: dt.date | None) -> None:
    assert parse_date(raw, "DueDate") == expected


@pytest.mark.parametrize("raw", ["2025-02-30", "09/02/2025", "yesterday", "2025-2-9"])
def test_bad_dates(raw: str) -> None:
    with pytest.raises(ValueProblem):
        parse_date(raw, "DueDate")


def test_currency_defaults_to_the_administrations_own() -> None:
    assert parse_currency(None, "EUR") == "EUR"
    assert parse_currency(" usd ", "EUR") == "USD"
    with pytest.raises(ValueProblem):
        parse_currency("dollars", "EUR")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("The maximum number of web service calls for this domain has been reached", FaultKind.LIMIT),
        ("Daily limit exceeded", FaultKind.LIMIT),
        ("You have no rights for the web service Accounting.", FaultKind.RIGHTS),
        ("Session expired", FaultKind.SESSION),
        ("Invalid session ID", FaultKind.SESSION),
        ("Authentication failed: invalid access key", FaultKind.AUTH),
        ("Object reference not set to an instance of an object.", FaultKind.SERVER),
    ],
)
def test_fault_texts_are_classified(text: str, kind: FaultKind) -> None:
    assert DEFAULT_FAULT_RULES.classify(text) is kind


def test_fault_text_never_carries_the_key_or_a_session_id() -> None:
    key = "5f0c3e7a-9d1b-4c2e-8a6f-1b2c3d4e5f60"
    session = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    error = fault_error(
        Fault("soap:Server", f"Invalid access key {key} for session {session}"),
        "Authenticate",
        DEFAULT_FAULT_RULES,
        secrets=(key,),
    )

    assert key not in str(error) and session not in str(error)
    assert redact("word " * 100).endswith("…")
