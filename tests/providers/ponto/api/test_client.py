"""The Ponto API client against the simulator over loopback HTTP: pages, retries, typed errors."""

from __future__ import annotations

import logging
from decimal import Decimal
from urllib.parse import unquote

import httpx
import pytest

from bot.errors import MalformedResponse, ProviderError, ProviderUnavailable, RateLimited, ReauthRequired
from bot.providers.http import RetryPolicy
from bot.providers.ponto.api import PontoClient, TokenSet, Transport
from bot.sandbox.ponto import Failure, PontoSimulator
from tests.ponto_support import FAST, Sleeps, StaticTokens


async def all_transactions(client: PontoClient, account_id: str) -> list[str]:
    ids: list[str] = []
    url = None
    while True:
        page = await client.transactions_page(account_id, url)
        ids += [t.id for t in page.items]
        if page.next_url is None:
            return ids
        url = page.next_url


async def test_accounts_are_typed_with_exact_balances(client: PontoClient, ponto_sim: PontoSimulator) -> None:
    accounts = await client.accounts()

    assert {a.id for a in accounts} == set(ponto_sim.accounts)
    for account in accounts:
        seeded = ponto_sim.accounts[account.id]
        assert account.current_balance == seeded.balance and isinstance(account.current_balance, Decimal)
        assert account.reference == seeded.iban and account.currency == seeded.currency
        assert account.financial_institution_id == seeded.bank.id
        assert account.synchronized_at is not None and account.synchronized_at.tzinfo is not None
    assert sorted(a.currency for a in accounts).count("USD") == 1


async def test_pagination_follows_next_links_in_pages_of_100(
    client: PontoClient, ponto_sim: PontoSimulator
) -> None:
    account_id = max(ponto_sim.accounts, key=lambda i: len(ponto_sim.accounts[i].transactions))
    expected = [t.id for t in ponto_sim.transactions_of(account_id)]
    ponto_sim.reset()

    ids = await all_transactions(client, account_id)

    assert ids == expected, "every transaction once, newest first, nothing skipped"
    pages = ponto_sim.calls_to("transactions")
    assert len(pages) == -(-len(expected) // 100)
    assert all("page[limit]=100" in unquote(call.query) for call in pages)
    assert all("page[after]=" in unquote(call.query) for call in pages[1:])
    assert client.calls == len(pages)


async def test_transaction_amounts_are_exact(client: PontoClient, ponto_sim: PontoSimulator) -> None:
    account_id = next(iter(ponto_sim.accounts))
    page = await client.transactions_page(account_id)

    seeded = {t.id: t for t in ponto_sim.transactions_of(account_id)}
    for transaction in page.items:
        assert transaction.amount == seeded[transaction.id].amount
        assert transaction.execution_date == seeded[transaction.id].execution_date


async def test_429_waits_as_long_as_retry_after_then_succeeds(
    client: PontoClient, ponto_sim: PontoSimulator, sleeps: Sleeps
) -> None:
    ponto_sim.fail("accounts", Failure("ratelimited", times=2, retry_after=7))

    accounts = await client.accounts()

    assert len(accounts) == 5
    assert len(sleeps.delays) == 2 and all(delay >= 7 for delay in sleeps.delays)
    assert len(ponto_sim.calls_to("accounts")) == 3


async def test_429_beyond_the_retry_budget_is_rate_limited(
    client: PontoClient, ponto_sim: PontoSimulator
) -> None:
    ponto_sim.fail("accounts", Failure("ratelimited", times=10, retry_after=3600))

    with pytest.raises(RateLimited) as caught:
        await client.accounts()

    assert caught.value.retry_after == 3600
    assert caught.value.code == "tooManyRequests" and caught.value.request_id
    assert len(ponto_sim.calls_to("accounts")) == 1, "no request before Retry-After has passed"


async def test_500_is_retried_with_jitter_then_succeeds(
    client: PontoClient, ponto_sim: PontoSimulator, sleeps: Sleeps
) -> None:
    ponto_sim.fail("transactions", Failure("http_500", times=2))
    account_id = next(iter(ponto_sim.accounts))

    page = await client.transactions_page(account_id)

    assert page.items
    assert len(sleeps.delays) == 2 and all(0 <= d <= FAST.max_delay for d in sleeps.delays)


async def test_persistent_500_becomes_provider_unavailable(
    client: PontoClient, ponto_sim: PontoSimulator
) -> None:
    ponto_sim.fail("accounts", Failure("http_500", times=10))

    with pytest.raises(ProviderUnavailable) as caught:
        await client.accounts()

    assert caught.value.code == "internalServerError" and caught.value.request_id
    assert len(ponto_sim.calls_to("accounts")) == FAST.attempts


async def test_a_slow_answer_hits_the_total_deadline(
    ponto_sim: PontoSimulator, http: httpx.AsyncClient, issued: TokenSet
) -> None:
    policy = RetryPolicy(attempts=2, deadline=0.3, base_delay=0.01)
    client = PontoClient(
        Transport(http, ponto_sim.base_url, policy=policy), StaticTokens(issued.access_token)
    )
    ponto_sim.fail("accounts", Failure("slow", times=5, seconds=0.5))

    with pytest.raises(ProviderUnavailable, match="no answer within"):
        await client.accounts()


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("truncated", "not JSON"),
        ("unknown_attribute", "unknown attribute 'surpriseField'"),
        ("unknown_type", "unexpected resource type 'payment'"),
    ],
)
async def test_bad_documents_are_typed_errors_logged_with_the_request_id(
    client: PontoClient, ponto_sim: PontoSimulator, caplog: pytest.LogCaptureFixture, mode: str, problem: str
) -> None:
    account_id = next(iter(ponto_sim.accounts))
    ponto_sim.fail("transactions", Failure(mode))

    with caplog.at_level(logging.WARNING), pytest.raises(MalformedResponse, match=problem) as caught:
        await client.transactions_page(account_id)

    assert caught.value.request_id
    logged = [r for r in caplog.records if r.getMessage() == "ponto.malformed"]
    assert logged and logged[0].request_id == caught.value.request_id  # type: ignore[attr-defined]


async def test_unknown_attributes_can_be_tolerated(
    ponto_sim: PontoSimulator, http: httpx.AsyncClient, issued: TokenSet
) -> None:
    client = PontoClient(
        Transport(http, ponto_sim.base_url, policy=FAST),
        StaticTokens(issued.access_token),
        unknown_attributes="ignore",
    )
    ponto_sim.fail("transactions", Failure("unknown_attribute"))

    page = await client.transactions_page(next(iter(ponto_sim.accounts)))

    assert len(page.items) == 100


async def test_api_errors_carry_code_detail_and_request_id(client: PontoClient) -> None:
    with pytest.raises(ProviderError) as caught:
        await client.transactions_page("00000000-0000-4000-8000-000000000000")

    assert caught.value.code == "resourceNotFound"
    assert "not found" in str(caught.value) and caught.value.request_id
    assert caught.value.status == 404


async def test_a_refused_token_is_reported_once_and_the_call_retried(
    ponto_sim: PontoSimulator, http: httpx.AsyncClient
) -> None:
    tokens = StaticTokens("AT-not-issued-by-ponto")
    client = PontoClient(Transport(http, ponto_sim.base_url, policy=FAST), tokens)

    with pytest.raises(ReauthRequired) as caught:
        await client.accounts()

    assert tokens.rejected == ["AT-not-issued-by-ponto"]
    assert caught.value.code == "invalidAccessToken"
    assert len(ponto_sim.calls_to("accounts")) == 2


async def test_a_next_link_to_another_host_is_refused(client: PontoClient, ponto_sim: PontoSimulator) -> None:
    account_id = next(iter(ponto_sim.accounts))

    with pytest.raises(MalformedResponse, match="outside the Ponto API"):
        await client.transactions_page(account_id, "https://evil.example/accounts/x/transactions")

    assert ponto_sim.calls_to("transactions") == []


async def test_posts_carry_one_idempotency_key_across_retries(
    client: PontoClient, ponto_sim: PontoSimulator
) -> None:
    keys: list[str | None] = []
    transport = client.transport

    async def record(request: httpx.Request) -> None:
        if request.method == "POST":
            keys.append(request.headers.get("ibanity-idempotency-key"))

    transport.http.event_hooks["request"].append(record)
    ponto_sim.fail("synchronizations", Failure("http_500", times=1))
    account_id = next(iter(ponto_sim.accounts))

    sync = await client.create_synchronization(account_id, "accountDetails")

    assert sync.status == "pending"
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]


async def test_a_recent_synchronization_is_reported_by_code(
    client: PontoClient, ponto_sim: PontoSimulator
) -> None:
    account_id = next(iter(ponto_sim.accounts))
    await client.create_synchronization(account_id, "accountTransactions")

    with pytest.raises(ProviderError) as caught:
        await client.create_synchronization(account_id, "accountTransactions")

    assert caught.value.code == "accountRecentlySynchronized"


async def test_synchronizations_finish_after_polling(client: PontoClient, ponto_sim: PontoSimulator) -> None:
    account_id = next(iter(ponto_sim.accounts))
    ponto_sim.expire_consent(account_id)
    sync = await client.create_synchronization(account_id, "accountDetails")

    while not sync.finished:
        sync = await client.synchronization(sync.id)

    assert sync.status == "error"
    assert [problem.code for problem in sync.errors] == ["authorizationInvalid"]
