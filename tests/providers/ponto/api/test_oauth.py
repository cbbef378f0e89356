"""Ponto OAuth against the simulator: PKCE S256, Basic client auth, rotation, reuse, revocation."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.clock import SystemClock
from bot.errors import MalformedResponse, ProviderError, ProviderUnavailable, ReauthRequired
from bot.providers.ponto.api import PontoOAuth, TokenSet, Transport, new_code_verifier
from bot.sandbox.ponto import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Failure, PontoSimulator
from tests.ponto_support import FAST, REDIRECT


@pytest.fixture
def oauth(ponto_sim: PontoSimulator, http: httpx.AsyncClient) -> PontoOAuth:
    return PontoOAuth(
        Transport(http, ponto_sim.base_url, policy=FAST),
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        ponto_sim.base_url + "/oauth2/auth",
        clock=SystemClock(),
    )


async def approved_code(
    oauth: PontoOAuth, http: httpx.AsyncClient, verifier: str, scope: str = "ai offline_access"
) -> str:
    url = oauth.authorization_url(redirect_uri=REDIRECT, scope=scope, state="x" * 43, verifier=verifier)
    answer = await http.get(url)
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def test_the_consent_url_carries_pkce_s256_state_scope_and_the_exact_redirect(oauth: PontoOAuth) -> None:
    verifier = new_code_verifier()

    query = parse_qs(
        urlsplit(
            oauth.authorization_url(
                redirect_uri=REDIRECT, scope="ai offline_access name", state="the-state", verifier=verifier
            )
        ).query
    )

    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query == {
        "response_type": ["code"],
        "client_id": [DEFAULT_CLIENT_ID],
        "redirect_uri": [REDIRECT],
        "scope": ["ai offline_access name"],
        "state": ["the-state"],
        "code_challenge": [challenge],
        "code_challenge_method": ["S256"],
    }
    assert 43 <= len(verifier) <= 128


async def test_code_exchange_returns_a_token_pair(
    oauth: PontoOAuth, http: httpx.AsyncClient, ponto_sim: PontoSimulator
) -> None:
    verifier = new_code_verifier()
    before = dt.datetime.now(dt.UTC)

    tokens = await oauth.exchange_code(await approved_code(oauth, http, verifier), verifier, REDIRECT)

    assert tokens.access_token and tokens.refresh_token and tokens.scope == "ai offline_access"
    assert before + dt.timedelta(seconds=1790) <= tokens.expires_at <= before + dt.timedelta(seconds=1810)
    assert ponto_sim.token_requests == ["authorization_code"]
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)


async def test_a_wrong_verifier_or_a_reused_code_is_refused(
    oauth: PontoOAuth, http: httpx.AsyncClient
) -> None:
    verifier = new_code_verifier()
    code = await approved_code(oauth, http, verifier)

    with pytest.raises(ReauthRequired) as wrong:
        await oauth.exchange_code(code, new_code_verifier(), REDIRECT)
    second = await approved_code(oauth, http, verifier)
    await oauth.exchange_code(second, verifier, REDIRECT)
    with pytest.raises(ReauthRequired):
        await oauth.exchange_code(second, verifier, REDIRECT)

    assert wrong.value.code == "invalid_grant"


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_grant(
    oauth: PontoOAuth, issued: TokenSet
) -> None:
    rotated = await oauth.refresh(issued.refresh_token)

    with pytest.raises(ReauthRequired) as reused:
        await oauth.refresh(issued.refresh_token)
    with pytest.raises(ReauthRequired):
        await oauth.refresh(rotated.refresh_token)  # the whole family is gone after a reuse

    assert rotated.refresh_token != issued.refresh_token
    assert reused.value.code == "invalid_grant"


@pytest.mark.parametrize(
    ("mode", "problem"),
    [
        ("negative_expires_in", "expires_in"),
        ("no_refresh_token", "offline_access"),
        ("truncated", "not JSON"),
    ],
)
async def test_bad_token_responses_are_typed_errors(
    oauth: PontoOAuth, issued: TokenSet, ponto_sim: PontoSimulator, mode: str, problem: str
) -> None:
    ponto_sim.fail("token", Failure(mode))

    with pytest.raises(MalformedResponse, match=problem) as caught:
        await oauth.refresh(issued.refresh_token)

    assert caught.value.request_id


async def test_token_calls_are_never_retried_blindly(
    oauth: PontoOAuth, issued: TokenSet, ponto_sim: PontoSimulator
) -> None:
    ponto_sim.fail("token", Failure("http_500", times=3))

    with pytest.raises(ProviderUnavailable):
        await oauth.refresh(issued.refresh_token)

    assert len(ponto_sim.calls_to("token")) == 2, "the code exchange, then one refresh attempt"


async def test_a_wrong_client_secret_is_not_mistaken_for_a_lost_grant(
    ponto_sim: PontoSimulator, http: httpx.AsyncClient, issued: TokenSet
) -> None:
    wrong = PontoOAuth(
        Transport(http, ponto_sim.base_url, policy=FAST),
        DEFAULT_CLIENT_ID,
        "wrong",
        "unused",
        clock=SystemClock(),
    )

    with pytest.raises(ProviderError) as caught:
        await wrong.refresh(issued.refresh_token)

    assert not isinstance(caught.value, ReauthRequired)
    assert caught.value.code == "invalid_client"
    assert "wrong" not in str(caught.value)


async def test_revocation_is_idempotent_and_final(
    oauth: PontoOAuth, issued: TokenSet, ponto_sim: PontoSimulator
) -> None:
    await oauth.revoke(issued.refresh_token)
    await oauth.revoke(issued.refresh_token)

    with pytest.raises(ReauthRequired):
        await oauth.refresh(issued.refresh_token)
    assert ponto_sim.revoked_tokens == [issued.refresh_token, issued.refresh_token]
    assert ponto_sim.live_refresh_tokens() == []


async def test_userinfo_names_the_organisation_only_with_the_name_scope(
    oauth: PontoOAuth, http: httpx.AsyncClient
) -> None:
    with_name = await oauth.exchange_code(
        await approved_code(oauth, http, v := new_code_verifier(), "ai offline_access name"), v, REDIRECT
    )
    without = await oauth.exchange_code(
        await approved_code(oauth, http, w := new_code_verifier()), w, REDIRECT
    )

    assert (await oauth.userinfo(with_name.access_token)).name == "Cashbot Demo BV"
    info = await oauth.userinfo(without.access_token)
    assert info.name is None and info.organization_id
