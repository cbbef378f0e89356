"""The Yuki client against the simulator over loopback HTTP: operations, sessions, faults, limits."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from bot.errors import MalformedResponse, ProviderUnavailable, RateLimited, ReauthRequired
from bot.providers.http import RetryPolicy
from bot.providers.yuki.api import MemorySessions, ResponseTooLarge, YukiClient
from bot.sandbox.yuki import NO_RIGHTS_KEY, SANDBOX_KEY, SINGLE_ADMIN_KEY, YukiSimulator


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture
async def yuki(yuki_sim: YukiSimulator) -> AsyncIterator[YukiClient]:
    async with YukiClient(yuki_sim.api_url, SANDBOX_KEY, sleep=_no_wait) as client:
        yield client


def _ops(sim: YukiSimulator) -> list[str]:
    return [call.operation for call in sim.calls]


async def test_lists_the_administrations_the_key_reaches(yuki: YukiClient, yuki_sim: YukiSimulator) -> None:
    admins = await yuki.administrations()

    assert [(a.id, a.name) for a in admins] == [(a.id, a.name) for a in yuki_sim.administrations.values()]
    assert {a.domain_id for a in admins} == {yuki_sim.domain_id}

    async with YukiClient(yuki_sim.api_url, SINGLE_ADMIN_KEY) as single:
        assert [a.id for a in await single.administrations()] == [yuki_sim.main.id]


async def test_outstanding_debtor_items_match_the_books(yuki: YukiClient, yuki_sim: YukiSimulator) -> None:
    answer = await yuki.outstanding_debtor_items(yuki_sim.main.id)

    expected = {item.id: item for item in yuki_sim.receivables()}
    assert answer.failures == []
    assert {item.id for item in answer.items} == set(expected)
    for item in answer.items:
        seeded = expected[item.id]
        assert (item.open_amount, item.currency, item.due_date) == (
            seeded.open_amount,
            seeded.currency,
            seeded.due_date,
        )
        assert item.contact == seeded.contact.name and item.reference == seeded.reference
    assert any(item.currency == "USD" for item in answer.items), "the books have dollar invoices"
    assert any(item.open_amount < 0 for item in answer.items), "credit notes are negative"


async def test_outstanding_creditor_items_and_ledger(yuki: YukiClient, yuki_sim: YukiSimulator) -> None:
    payables = await yuki.outstanding_creditor_items(yuki_sim.main.id)
    ledger = await yuki.gl_account_balance(yuki_sim.main.id, yuki_sim.today)

    assert sum(i.open_amount for i in payables.items) == sum(i.open_amount for i in yuki_sim.payables())
    bank_and_cash = sum(line.amount or 0 for line in ledger if line.code.startswith(("55", "57")))
    assert bank_and_cash == yuki_sim.bank_and_cash_total()
    assert {line.code: line.balance_type for line in ledger}["700000"] == "W"


async def test_session_is_cached_between_calls(yuki: YukiClient, yuki_sim: YukiSimulator) -> None:
    await yuki.administrations()
    await yuki.outstanding_debtor_items(yuki_sim.main.id)

    assert _ops(yuki_sim) == ["Authenticate", "Administrations", "OutstandingDebtorItems"]
    assert yuki.requests == 3


async def test_session_is_shared_between_clients_of_one_store(yuki_sim: YukiSimulator) -> None:
    sessions = MemorySessions()
    for _ in range(2):
        async with YukiClient(yuki_sim.api_url, SANDBOX_KEY, sessions=sessions) as client:
            await client.administrations()

    assert _ops(yuki_sim).count("Authenticate") == 1


async def test_session_is_renewed_once_after_a_session_fault(
    yuki: YukiClient, yuki_sim: YukiSimulator
) -> None:
    await yuki.administrations()
    yuki_sim.expire_sessions()

    answer = await yuki.outstanding_debtor_items(yuki_sim.main.id)

    assert len(answer.items) == len(yuki_sim.receivables())
    assert _ops(yuki_sim) == [
        "Authenticate",
        "Administrations",
        "OutstandingDebtorItems",  # refused: the session expired
        "Authenticate",
        "OutstandingDebtorItems",
    ]


async def test_a_session_refused_twice_is_not_renewed_forever(
    yuki: YukiClient, yuki_sim: YukiSimulator
) -> None:
    yuki_sim.fail("expired_session", times=5, operation="OutstandingDebtorItems")

    with pytest.raises(ProviderUnavailable) as caught:
        await yuki.outstanding_debtor_items(yuki_sim.main.id)

    assert caught.value.code == "session_rejected"
    assert _ops(yuki_sim).count("Authenticate") == 2
    assert _ops(yuki_sim).count("OutstandingDebtorItems") == 2


async def test_wrong_key_is_reauth_required_and_tried_once(yuki_sim: YukiSimulator) -> None:
    async with YukiClient(yuki_sim.api_url, "not-a-real-key-0000") as client:
        with pytest.raises(ReauthRequired) as caught:
            await client.administrations()

    assert caught.value.code == "invalid_key"
    assert "not-a-real-key" not in str(caught.value)
    assert _ops(yuki_sim) == ["Authenticate"]


async def test_key_without_accounting_rights(yuki_sim: YukiSimulator) -> None:
    async with YukiClient(yuki_sim.api_url, NO_RIGHTS_KEY) as client:
        with pytest.raises(ReauthRequired) as caught:
            await client.administrations()

    assert caught.value.code == "no_rights"


async def test_a_key_that_cannot_travel_in_xml_is_refused_without_a_call(yuki_sim: YukiSimulator) -> None:
    async with YukiClient(yuki_sim.api_url, "bad\x00key") as client:
        with pytest.raises(ReauthRequired):
            await client.administrations()

    assert yuki_sim.calls == []


async def test_daily_limit_fault_is_rate_limited_and_not_retried(
    yuki: YukiClient, yuki_sim: YukiSimulator
) -> None:
    await yuki.administrations()
    yuki_sim.fail("daily_limit")

    with pytest.raises(RateLimited) as caught:
        await yuki.outstanding_debtor_items(yuki_sim.main.id)

    assert caught.value.code == "daily_limit"
    assert _ops(yuki_sim).count("OutstandingDebtorItems") == 1


async def test_the_simulated_domain_limit_is_enforced(yuki: YukiClient, yuki_sim: YukiSimulator) -> None:
    yuki_sim.daily_limit = 2
    await yuki.administrations()  # Authenticate + Administrations: the limit

    with pytest.raises(RateLimited):
        await yuki.outstanding_debtor_items(yuki_sim.main.id)


async def test_server_errors(yuki: YukiClient, yuki_sim: YukiSimulator) -> None:
    await yuki.administrations()
    yuki_sim.fail("http_500")
    with pytest.raises(ProviderUnavailable):
        await yuki.outstanding_debtor_items(yuki_sim.main.id)

    yuki_sim.fail("server_fault")
    with pytest.raises(ProviderUnavailable) as caught:
        await yuki.outstanding_debtor_items(yuki_sim.main.id)
    assert caught.value.code == "server_fault"
    assert _ops(yuki_sim).count("OutstandingDebtorItems") == 2, "a 500 is not retried: it costs calls"


async def test_slow_answer_hits_the_total_deadline(yuki_sim: YukiSimulator) -> None:
    policy = RetryPolicy(attempts=1, deadline=0.3, timeout=httpx.Timeout(5.0))
    yuki_sim.fail("slow", seconds=1.0)
    async with YukiClient(yuki_sim.api_url, SANDBOX_KEY, policy=policy) as client:
        with pytest.raises(ProviderUnavailable) as caught:
            await client.administrations()

    assert "no answer within" in str(caught.value)


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("malformed", "not well-formed"),
        ("wrong_envelope", "not a SOAP envelope"),
        ("xxe", "DTD"),
    ],
)
async def test_malformed_and_hostile_answers_are_typed_errors(
    yuki: YukiClient, yuki_sim: YukiSimulator, mode: str, says: str
) -> None:
    await yuki.administrations()
    yuki_sim.fail(mode)

    with pytest.raises(MalformedResponse) as caught:
        await yuki.outstanding_debtor_items(yuki_sim.main.id)

    assert says in str(caught.value)
    assert "root:" not in str(caught.value), "no file content may ever come through an entity"


async def test_answer_larger_than_the_cap_is_refused(yuki_sim: YukiSimulator) -> None:
    async with YukiClient(yuki_sim.api_url, SANDBOX_KEY, max_response_bytes=50_000) as client:
        with pytest.raises(ResponseTooLarge):
            await client.outstanding_debtor_items(yuki_sim.main.id)


@pytest.mark.parametrize("shape", ["bare", "escaped"])
async def test_other_answer_shapes_give_the_same_items(
    yuki: YukiClient, yuki_sim: YukiSimulator, shape: str
) -> None:
    yuki_sim.shape = shape
    yuki_sim.comma_decimals = True

    answer = await yuki.outstanding_debtor_items(yuki_sim.main.id)

    assert answer.failures == []
    expected = {item.id: item.open_amount for item in yuki_sim.receivables()}
    assert {item.id: item.open_amount for item in answer.items} == expected


async def test_bad_items_are_failures_the_rest_is_read(yuki: YukiClient, yuki_sim: YukiSimulator) -> None:
    first, second, third, fourth, fifth = yuki_sim.receivables()[:5]
    yuki_sim.corrupt(first.id, "OpenAmount", "twelve euro")
    yuki_sim.corrupt(second.id, "DueDate", "31/02/2025")
    yuki_sim.corrupt(third.id, "ID", None)
    yuki_sim.corrupt(fourth.id, "OpenAmount", "1.234,56")
    yuki_sim.corrupt(fifth.id, "DueDate", "")

    answer = await yuki.outstanding_debtor_items(yuki_sim.main.id)

    reasons = {failure.key: failure.reason for failure in answer.failures}
    assert "OpenAmount 'twelve euro' is not an amount" in reasons[first.id]
    assert "DueDate" in reasons[second.id]
    assert any(key.startswith("noid:") for key in reasons)
    assert len(answer.failures) == 3
    read = {item.id: item for item in answer.items}
    assert read[fourth.id].open_amount == Decimal("1234.56")
    assert read[fifth.id].due_date is None
    assert len(answer.items) == len(yuki_sim.receivables()) - 3


async def test_gate_is_asked_before_every_request(yuki_sim: YukiSimulator) -> None:
    asked: list[str] = []

    async def gate(operation: str) -> None:
        asked.append(operation)
        if len(asked) > 2:
            raise RateLimited("yuki", "budget spent", code="budget")

    async with YukiClient(yuki_sim.api_url, SANDBOX_KEY, gate=gate) as client:
        await client.administrations()
        with pytest.raises(RateLimited):
            await client.outstanding_debtor_items(yuki_sim.main.id)

    assert asked == ["Authenticate", "Administrations", "OutstandingDebtorItems"]
    assert _ops(yuki_sim) == ["Authenticate", "Administrations"], "a refused call never leaves"


async def test_ledger_amount_that_does_not_parse_is_kept_as_a_problem(
    yuki: YukiClient, yuki_sim: YukiSimulator
) -> None:
    yuki_sim.corrupt("550000", "Amount", "0.00001")
    yuki_sim.corrupt("570000", "Amount", "1.250,75")

    ledger = {
        line.code: line for line in await yuki.gl_account_balance(yuki_sim.main.id, dt.date(2025, 1, 31))
    }

    assert ledger["550000"].amount is None
    assert "more than 4 decimals" in (ledger["550000"].problem or "")
    assert ledger["570000"].amount == Decimal("1250.75")
