"""Ponto's OAuth2: the consent URL (PKCE S256), code exchange, refresh, revocation, userinfo.

Token requests are never retried automatically: an authorization code works once, and a refresh
token that Ponto may already have rotated must not be replayed blindly (RFC 9700 §4.14.2). The
caller re-reads its stored token and decides.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from bot.clock import Clock
from bot.providers.ponto.api.errors import malformed, oauth_error
from bot.providers.ponto.api.jsonapi import decode_json
from bot.providers.ponto.api.models import UserInfo, read_userinfo
from bot.providers.ponto.api.transport import Transport

FORM = "application/x-www-form-urlencoded"


def new_code_verifier() -> str:
    """A PKCE verifier: 32 random bytes, base64url (43 characters, RFC 7636 §4.1)."""
    return secrets.token_urlsafe(32)


def code_challenge(verifier: str) -> str:
    return str(create_s256_code_challenge(verifier))


@dataclass(frozen=True)
class TokenSet:
    """A user token pair as Ponto issued it."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scope: str | None
    issued_at: dt.datetime

    @property
    def expires_at(self) -> dt.datetime:
        return self.issued_at + dt.timedelta(seconds=self.expires_in)


class PontoOAuth:
    """The OAuth endpoints of one Ponto client (client id and secret, HTTP Basic authentication)."""

    def __init__(
        self,
        transport: Transport,
        client_id: str,
        client_secret: str,
        authorization_url: str,
        *,
        clock: Clock,
    ) -> None:
        self._transport = transport
        self._clock = clock
        self._client_id = client_id
        self._authorization_url = authorization_url
        pair = f"{client_id}:{client_secret}".encode()
        self._basic = "Basic " + base64.b64encode(pair).decode()

    def authorization_url(self, *, redirect_uri: str, scope: str, state: str, verifier: str) -> str:
        """Where to send the browser for consent."""
        return str(
            prepare_grant_uri(
                self._authorization_url,
                self._client_id,
                "code",
                redirect_uri=redirect_uri,
                scope=scope,
                state=state,
                code_challenge=code_challenge(verifier),
                code_challenge_method="S256",
            )
        )

    async def exchange_code(self, code: str, verifier: str, redirect_uri: str) -> TokenSet:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self._client_id,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self._client_id}
        )

    async def revoke(self, token: str) -> None:
        """RFC 7009: 200 means the token is no longer valid (also when it never was)."""
        response = await self._transport.send(
            "POST",
            self._transport.url("/oauth2/revoke"),
            headers={"Authorization": self._basic, "Content-Type": FORM, "Accept": "application/json"},
            form={"token": token, "token_type_hint": "refresh_token", "client_id": self._client_id},
        )
        if response.status_code != 200:
            raise oauth_error(response)

    async def userinfo(self, access_token: str) -> UserInfo:
        response = await self._transport.send(
            "GET",
            self._transport.url("/userinfo"),
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise oauth_error(response)
        return read_userinfo(response, decode_json(response))

    async def _token(self, form: dict[str, str]) -> TokenSet:
        issued_at = self._clock.now()
        response = await self._transport.send(
            "POST",
            self._transport.url("/oauth2/token"),
            headers={"Authorization": self._basic, "Content-Type": FORM, "Accept": "application/json"},
            form=form,
            retry=False,
        )
        if response.status_code != 200:
            raise oauth_error(response)
        return _token_set(response, decode_json(response), issued_at)


def _token_set(response: Any, body: Any, issued_at: dt.datetime) -> TokenSet:
    if not isinstance(body, dict):
        raise malformed(response, "token response is not an object")
    access, refresh = body.get("access_token"), body.get("refresh_token")
    expires_in, kind, scope = body.get("expires_in"), body.get("token_type"), body.get("scope")
    if not isinstance(access, str) or not access:
        raise malformed(response, "token response has no access_token")
    if not isinstance(refresh, str) or not refresh:
        raise malformed(response, "token response has no refresh_token (is offline_access in the scopes?)")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= 86_400:
        raise malformed(response, "token response has no usable expires_in")
    if kind is not None and (not isinstance(kind, str) or kind.lower() != "bearer"):
        raise malformed(response, "token response is not a bearer token")
    if scope is not None and not isinstance(scope, str):
        raise malformed(response, "token response scope is not a string")
    return TokenSet(access, refresh, expires_in, scope, issued_at)
