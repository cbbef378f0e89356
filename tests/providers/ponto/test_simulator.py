"""The Ponto simulator itself: deterministic, believable seed data, and control over /_sim/* HTTP."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import httpx

from bot.sandbox.ponto import PontoSimulator
from bot.sandbox.ponto_seed import seed_accounts


def iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def test_the_seed_is_deterministic_and_believable() -> None:
    anchor = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    first, second = seed_accounts(2000, seed=3, anchor=anchor), seed_accounts(2000, seed=3, anchor=anchor)

    assert [t.id for a in first for t in a.transactions] == [t.id for a in second for t in a.transactions]
    assert sum(len(a.transactions) for a in first) == 2000
    assert len({a.bank.name for a in first}) >= 4 and [a.currency for a in first].count("USD") == 1
    assert all(a.iban.startswith("BE") and iban_valid(a.iban) for a in first)
    structured = [
        t.remittance_information
        for a in first
        for t in a.transactions
        if t.remittance_information_type == "structured"
    ]
    for text in structured:
        digits = re.sub(r"\D", "", text)
        assert int(digits[:10]) % 97 == (int(digits[10:]) % 97), text  # the Belgian mod-97 check
    for account in first:
        assert account.balance == account.opening_balance + sum(
            (t.amount for t in account.transactions), Decimal(0)
        )
        assert all(t.amount == t.amount.quantize(Decimal("0.01")) for t in account.transactions)


async def test_sim_state_and_switches_over_http(ponto_sim: PontoSimulator, http: httpx.AsyncClient) -> None:
    token = ponto_sim.issue_access_token()
    auth = {"Authorization": f"Bearer {token}"}

    state = (await http.get(f"{ponto_sim.base_url}/_sim/state")).json()
    assert {a["id"]: Decimal(a["balance"]) for a in state["accounts"]} == {
        i: a.balance for i, a in ponto_sim.accounts.items()
    }
    await http.post(f"{ponto_sim.base_url}/_sim/fail", json={"route": "accounts", "mode": "http_500"})
    failed = await http.get(f"{ponto_sim.base_url}/accounts", headers=auth)
    account_id = state["accounts"][0]["id"]
    added = (
        await http.post(
            f"{ponto_sim.base_url}/_sim/transactions", json={"account_id": account_id, "count": 3}
        )
    ).json()
    listed = (
        await http.get(f"{ponto_sim.base_url}/accounts/{account_id}/transactions?page[limit]=3", headers=auth)
    ).json()
    await http.post(f"{ponto_sim.base_url}/_sim/expire_tokens")
    expired = await http.get(f"{ponto_sim.base_url}/accounts", headers=auth)

    assert failed.status_code == 500 and failed.headers["ibanity-request-id"]
    assert failed.json()["errors"][0]["code"] == "internalServerError"
    assert [r["id"] for r in listed["data"]] == added["added"][::-1], "the newest first"
    assert expired.status_code == 401 and expired.json()["errors"][0]["code"] == "invalidAccessToken"


async def test_page_limits_above_100_are_refused(ponto_sim: PontoSimulator, http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {ponto_sim.issue_access_token()}"}
    account_id = next(iter(ponto_sim.accounts))

    answer = await http.get(
        f"{ponto_sim.base_url}/accounts/{account_id}/transactions?page[limit]=101", headers=auth
    )

    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "invalidPageLimit"
