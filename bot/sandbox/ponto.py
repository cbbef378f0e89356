"""A Ponto Connect simulator: real HTTP on loopback, speaking the documented API.

OAuth (an authorization page that approves at once, token with PKCE check and refresh-token
rotation that treats a reused refresh token as theft, revocation, userinfo) and JSON:API
accounts, transactions (cursor pagination, newest first), financial institutions and
synchronizations, seeded by `ponto_seed`. Failures are switched on per route: 429 with
Retry-After, 500, slow answers, truncated or unexpected documents, bad token responses,
expired bank consent, sync errors. Tests drive it in-process (`PontoSimulator`) and other
processes through `/_sim/*`; `python -m bot.sandbox.ponto` serves it on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from bot.clock import Clock, SystemClock
from bot.sandbox.ponto_seed import (
    BANKS,
    SimAccount,
    SimTransaction,
    new_transactions,
    seed_accounts,
)

DEFAULT_CLIENT_ID = "ponto-sandbox-client"
DEFAULT_CLIENT_SECRET = "ponto-sandbox-secret"
ORGANIZATION_ID = "6c1e6a8e-5d43-4b7e-9f0c-2d1a7b9e4c11"
ORGANIZATION_NAME = "Cashbot Demo BV"
JSON_API = "application/vnd.api+json"
DEFAULT_PAGE, MAX_PAGE = 10, 100


@dataclass
class Failure:
    """A programmed misbehaviour for the next `times` requests to a route.

    `after` lets that many requests through first. Modes: ratelimited (429 + Retry-After),
    http_500, slow (answer after `seconds`), hang, truncated (half the real body),
    unknown_attribute, unknown_type, error (`status`/`code`),
    and for the token route: invalid_grant, negative_expires_in, no_refresh_token,
    rotate_then_hang (the refresh is done, then the answer never comes).
    """

    mode: str
    times: int = 1
    retry_after: int = 1
    seconds: float = 30.0
    status: int = 400
    code: str = "invalidRequest"
    after: int = 0  # let this many requests through untouched first
    size: int = 400 * 1024 * 1024  # of a "huge" answer


@dataclass
class Grant:
    """One consent: its refresh-token family and the access tokens it issued."""

    id: str
    scope: str
    refresh_token: str
    spent: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class SimSync:
    """A synchronization in progress or done."""

    id: str
    account_id: str
    subtype: str
    created: float
    polls_left: int
    status: str = "pending"
    errors: list[dict[str, Any]] = field(default_factory=list)
    updated: list[SimTransaction] = field(default_factory=list)


@dataclass
class RecordedCall:
    """One request the simulator answered."""

    route: str
    method: str
    path: str
    query: str = ""


class PontoSimulator:
    """State and behaviour of the simulated Ponto; `app` is its ASGI application."""

    def __init__(
        self,
        *,
        transactions: int | Sequence[int] = 3000,
        seed: int = 7,
        anchor: dt.datetime | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        access_token_ttl: int = 1799,
        sync_polls: int = 2,
        recent_sync_window: float = 300.0,
        clock: Clock | None = None,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.seed = seed
        self.access_token_ttl = access_token_ttl
        self.sync_polls = sync_polls
        self.recent_sync_window = recent_sync_window
        self._clock = clock or SystemClock()
        self.base_url = ""
        self.accounts: dict[str, SimAccount] = {
            a.id: a for a in seed_accounts(transactions, seed=seed, anchor=anchor or self._clock.now())
        }
        self.calls: list[RecordedCall] = []
        self.token_requests: list[str] = []  # grant types, in order
        self.revoked_tokens: list[str] = []
        self.grants: dict[str, Grant] = {}
        self.syncs: dict[str, SimSync] = {}
        self.sync_failures: dict[str, str] = {}  # account id -> error code for its next syncs
        self._codes: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, str] = {}  # refresh token (current or spent) -> grant id
        self._access: dict[str, tuple[str, float]] = {}  # access token -> (grant id, expires)
        self._failures: dict[str, list[Failure]] = {}
        self.late_bookings: dict[str, list[SimTransaction]] = {}
        self.updated_link_shape = "related"  # or "href": {"related": {"href": url}}
        self.app = self._build_app()

    def _epoch(self) -> float:
        return self._clock.now().timestamp()

    # ---- control from tests ------------------------------------------------------------------
    def fail(self, route: str, failure: Failure) -> None:
        """Make the next `failure.times` requests to `route` misbehave (routes: see `_build_app`)."""
        self._failures.setdefault(route, []).append(failure)

    def reset(self) -> None:
        """Forget calls and programmed failures (data and tokens stay)."""
        self.calls.clear()
        self.token_requests.clear()
        self.revoked_tokens.clear()
        self._failures.clear()
        self.sync_failures.clear()

    def calls_to(self, route: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.route == route]

    @property
    def refreshes(self) -> int:
        return self.token_requests.count("refresh_token")

    def live_refresh_tokens(self) -> list[str]:
        """The refresh token of each grant still usable (what a client should have stored)."""
        return [g.refresh_token for g in self.grants.values() if not g.revoked]

    def issue_access_token(self, scope: str = "ai offline_access name") -> str:
        """An access token of a new grant, as if a consent had just happened (for tests of other parts)."""
        grant = Grant(secrets.token_hex(8), scope, "")
        self.grants[grant.id] = grant
        return str(self._token_body(grant, None)["access_token"])

    def issued_access_tokens(self) -> list[str]:
        return list(self._access)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working now."""
        self._access = {token: (grant, 0.0) for token, (grant, _) in self._access.items()}

    def add_transactions(self, account_id: str, count: int) -> list[SimTransaction]:
        """New bookings arrive (as after Ponto's background sync); they are the newest."""
        account = self.accounts[account_id]
        now = self._clock.now()
        added = new_transactions(account, count, seed=self.seed, at=now)
        account.transactions.extend(added)
        account.reindex()
        account.synchronized_at = now
        return added

    def book_late(self, account_id: str, days_back: int = 10) -> SimTransaction:
        """A booking the bank reports late, dated `days_back` days ago: below the newest ones.

        A stop-at-the-first-known sweep never reaches it; the next successful transactions
        synchronization of the account lists it among its updated transactions.
        """
        account = self.accounts[account_id]
        at = self._clock.now() - dt.timedelta(days=days_back)
        [late] = new_transactions(account, 1, seed=self.seed + 7919 + len(account.transactions), at=at)
        position = next(
            (p for p, t in enumerate(account.transactions) if t.execution_date > late.execution_date),
            len(account.transactions),
        )
        account.transactions.insert(position, late)
        account.reindex()
        self.late_bookings.setdefault(account_id, []).append(late)
        return late

    def expire_consent(self, account_id: str | None = None) -> None:
        """The bank consent of one account (or all) lapsed: its syncs fail with authorizationInvalid."""
        past = self._clock.now() - dt.timedelta(days=1)
        for account in self.accounts.values():
            if account_id in (None, account.id):
                account.authorization_expires_at = past
                self.sync_failures[account.id] = "authorizationInvalid"

    def transactions_of(self, account_id: str) -> list[SimTransaction]:
        """An account's transactions, newest first (as the API lists them)."""
        return self.accounts[account_id].newest_first()

    @property
    def total_transactions(self) -> int:
        return sum(len(a.transactions) for a in self.accounts.values())

    # ---- HTTP plumbing ---------------------------------------------------------------------------
    def _build_app(self) -> Starlette:
        def route(path: str, name: str, handler: Callable[..., Any], methods: list[str]) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._serve(name, request, handler)

            return Route(path, endpoint, methods=methods)

        return Starlette(
            routes=[
                route("/oauth2/auth", "authorize", self._authorize, ["GET"]),
                route("/oauth2/token", "token", self._token, ["POST"]),
                route("/oauth2/revoke", "revoke", self._revoke, ["POST"]),
                route("/userinfo", "userinfo", self._userinfo, ["GET"]),
                route("/accounts", "accounts", self._accounts, ["GET"]),
                route("/accounts/{account_id}", "account", self._account, ["GET"]),
                route("/accounts/{account_id}/transactions", "transactions", self._transactions, ["GET"]),
                route("/financial-institutions/{fi_id}", "financial_institution", self._bank, ["GET"]),
                route("/synchronizations", "synchronizations", self._create_sync, ["POST"]),
                route("/synchronizations/{sync_id}", "synchronization", self._get_sync, ["GET"]),
                route(
                    "/synchronizations/{sync_id}/updated-transactions",
                    "updated_transactions",
                    self._updated_transactions,
                    ["GET"],
                ),
                Route("/_sim/state", self._sim_state, methods=["GET"]),
                Route("/_sim/fail", self._sim_fail, methods=["POST"]),
                Route("/_sim/reset", self._sim_reset, methods=["POST"]),
                Route("/_sim/expire_tokens", self._sim_expire, methods=["POST"]),
                Route("/_sim/transactions", self._sim_transactions, methods=["POST"]),
                Route("/_sim/consent", self._sim_consent, methods=["POST"]),
            ]
        )

    async def _serve(self, name: str, request: Request, handler: Callable[..., Any]) -> Response:
        self.calls.append(RecordedCall(name, request.method, request.url.path, request.url.query))
        failure = self._next_failure(name)
        if failure is not None:
            early = await _fail_early(failure)
            if early is not None:
                return _with_request_id(early)
        response: Response = await handler(request, failure)
        if failure is not None:
            response = _damage(response, failure)
        return _with_request_id(response)

    def _next_failure(self, name: str) -> Failure | None:
        queue = self._failures.get(name)
        if not queue:
            return None
        failure = queue[0]
        if failure.after > 0:
            failure.after -= 1
            return None
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    def _bearer(self, request: Request) -> Grant | None:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return None
        found = self._access.get(header[len("Bearer ") :])
        if found is None or found[1] <= self._epoch():
            return None
        grant = self.grants.get(found[0])
        return None if grant is None or grant.revoked else grant

    def _client_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            pair = base64.b64decode(header[len("Basic ") :]).decode()
        except ValueError:
            return False
        return secrets.compare_digest(pair, f"{self.client_id}:{self.client_secret}")

    # ---- OAuth -----------------------------------------------------------------------------------
    async def _authorize(self, request: Request, failure: Failure | None) -> Response:
        """The consent page: checks the request and approves at once (or denies, when told to)."""
        query = request.query_params
        redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("unknown client or redirect_uri", status_code=400)
        if failure is not None and failure.mode == "access_denied":
            return _redirect(redirect_uri, error="access_denied", state=state)
        if (
            query.get("response_type") != "code"
            or query.get("code_challenge_method") != "S256"
            or len(query.get("code_challenge", "")) < 43
        ):
            return _redirect(redirect_uri, error="invalid_request", state=state)
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "redirect_uri": redirect_uri,
            "challenge": query["code_challenge"],
            "scope": query.get("scope", ""),
            "expires": self._epoch() + 600,
        }
        return _redirect(redirect_uri, code=code, state=state)

    async def _token(self, request: Request, failure: Failure | None) -> Response:
        form = await request.form()
        grant_type = str(form.get("grant_type", ""))
        self.token_requests.append(grant_type)
        if not self._client_ok(request):
            return _oauth_error("invalid_client", 401)
        if failure is not None and failure.mode == "invalid_grant":
            return _oauth_error("invalid_grant")
        if grant_type == "authorization_code":
            grant = self._grant_for_code(form)
        elif grant_type == "refresh_token":
            grant = self._rotate(str(form.get("refresh_token", "")))
        else:
            return _oauth_error("unsupported_grant_type")
        if grant is None:
            return _oauth_error("invalid_grant")
        body = self._token_body(grant, failure)
        if failure is not None and failure.mode == "rotate_then_hang":
            await asyncio.sleep(failure.seconds)
        return JSONResponse(body)

    def _grant_for_code(self, form: Any) -> Grant | None:
        issued = self._codes.pop(str(form.get("code", "")), None)
        verifier = str(form.get("code_verifier", ""))
        if issued is None or issued["expires"] < self._epoch():
            return None
        if form.get("redirect_uri") != issued["redirect_uri"] or not _pkce_ok(verifier, issued["challenge"]):
            return None
        grant = Grant(secrets.token_hex(8), issued["scope"], "")
        self.grants[grant.id] = grant
        return grant

    def _rotate(self, refresh_token: str) -> Grant | None:
        grant = self.grants.get(self._refresh.get(refresh_token, ""))
        if grant is None or grant.revoked:
            return None
        if refresh_token != grant.refresh_token:
            grant.revoked = True  # a spent refresh token came back: assume theft, end the family
            return None
        grant.spent.add(refresh_token)
        return grant

    def _token_body(self, grant: Grant, failure: Failure | None) -> dict[str, Any]:
        access, refresh = f"AT-{secrets.token_urlsafe(24)}", f"RT-{secrets.token_urlsafe(24)}"
        grant.refresh_token = refresh
        self._refresh[refresh] = grant.id
        self._access[access] = (grant.id, self._epoch() + self.access_token_ttl)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.access_token_ttl,
            "refresh_token": refresh,
            "scope": grant.scope,
            "token_type": "bearer",
        }
        if failure is not None and failure.mode == "negative_expires_in":
            body["expires_in"] = -1
        if failure is not None and failure.mode == "no_refresh_token":
            del body["refresh_token"]
        return body

    async def _revoke(self, request: Request, failure: Failure | None) -> Response:
        if not self._client_ok(request):
            return _oauth_error("invalid_client", 401)
        token = str((await request.form()).get("token", ""))
        self.revoked_tokens.append(token)
        grant = self.grants.get(self._refresh.get(token, ""))
        if grant is not None:
            grant.revoked = True
        return JSONResponse({})  # RFC 7009: 200 also for unknown tokens

    async def _userinfo(self, request: Request, failure: Failure | None) -> Response:
        grant = self._bearer(request)
        if grant is None:
            return _api_error(401, "invalidAccessToken", "Your access token is invalid.")
        body: dict[str, Any] = {
            "sub": ORGANIZATION_ID,
            "paymentsActivated": False,
            "paymentRequestsActivated": False,
            "onboardingComplete": True,
        }
        if "name" in grant.scope.split():
            body["name"] = ORGANIZATION_NAME
        return JSONResponse(body)

    # ---- accounts and transactions ---------------------------------------------------------------
    async def _accounts(self, request: Request, failure: Failure | None) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        base = _base(request)
        ids = list(self.accounts)
        window = _window(request, len(ids), {i: n for n, i in enumerate(ids)}.get)
        if isinstance(window, Response):
            return window
        start, end, limit = window
        data = [self._account_resource(base, self.accounts[i]) for i in ids[start:end]]
        links = _paging_links(f"{base}/accounts", ids, start, end, limit)
        return _document({"data": data, "links": links, "meta": {"paging": {"limit": limit}}})

    async def _account(self, request: Request, failure: Failure | None) -> Response:
        account = self._authorized_account(request)
        if isinstance(account, Response):
            return account
        return _document({"data": self._account_resource(_base(request), account)})

    async def _transactions(self, request: Request, failure: Failure | None) -> Response:
        account = self._authorized_account(request)
        if isinstance(account, Response):
            return account
        count = len(account.transactions)
        listing = _Listing(account.transactions, count, account.index)
        window = _window(request, count, listing.position)
        if isinstance(window, Response):
            return window
        start, end, limit = window
        base = _base(request)
        fragments = ",".join(
            account.transactions[count - 1 - p].json_fragment(account.id) for p in range(start, end)
        )
        links = _paging_links(f"{base}/accounts/{account.id}/transactions", listing, start, end, limit)
        meta = {"paging": {"limit": limit}, "synchronizedAt": _iso(account.synchronized_at)}
        body = f'{{"data":[{fragments}],"links":{json.dumps(links)},"meta":{json.dumps(meta)}}}'
        return Response(body, media_type=JSON_API)

    async def _bank(self, request: Request, failure: Failure | None) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        bank = next((b for b in BANKS if b.id == request.path_params["fi_id"]), None)
        if bank is None:
            return _api_error(404, "resourceNotFound", "The requested resource was not found.")
        attributes = {"name": bank.name, "bic": bank.bic, "country": "BE", "status": "stable"}
        return _document({"data": {"type": "financialInstitution", "id": bank.id, "attributes": attributes}})

    def _authorized_account(self, request: Request) -> SimAccount | Response:
        """The account in the path, or the error answer (bad token, unknown account)."""
        if (refused := self._refuse(request)) is not None:
            return refused
        account = self.accounts.get(request.path_params["account_id"])
        if account is None:
            return _api_error(404, "resourceNotFound", "The requested resource was not found.", "account")
        return account

    def _refuse(self, request: Request) -> Response | None:
        grant = self._bearer(request)
        if grant is None:
            return _api_error(401, "invalidAccessToken", "Your access token is invalid.")
        if "ai" not in grant.scope.split():
            return _api_error(403, "forbidden", "This token lacks the ai scope.")
        return None

    def _account_resource(self, base: str, account: SimAccount) -> dict[str, Any]:
        balance = float(account.balance)
        stamp = _iso(account.synchronized_at)
        latest = self._latest_sync(account)
        return {
            "type": "account",
            "id": account.id,
            "attributes": {
                "currentBalance": balance,
                "availableBalance": balance,
                "currency": account.currency,
                "reference": account.iban,
                "referenceType": "IBAN",
                "subtype": account.subtype,
                "description": account.description,
                "product": account.product,
                "holderName": account.holder_name,
                "currentBalanceReferenceDate": stamp,
                "currentBalanceChangedAt": stamp,
                "availableBalanceReferenceDate": stamp,
                "authorizedAt": _iso(account.authorized_at),
                "authorizationExpirationExpectedAt": _iso(account.authorization_expires_at),
                "deprecated": False,
                "internalReference": account.id[:8],
            },
            "meta": {"synchronizedAt": stamp, "availability": "available", "latestSynchronization": latest},
            "relationships": {
                "financialInstitution": {
                    "data": {"type": "financialInstitution", "id": account.bank.id},
                    "links": {"related": f"{base}/financial-institutions/{account.bank.id}"},
                },
                "transactions": {
                    "links": {
                        "related": f"{base}/accounts/{account.id}/transactions",
                        "meta": {"type": "transaction"},
                    }
                },
            },
        }

    def _latest_sync(self, account: SimAccount) -> dict[str, Any]:
        code = self.sync_failures.get(account.id)
        errors = [_sync_error(code)] if code else []
        return {
            "type": "synchronization",
            "id": f"sync-{account.id[:8]}",
            "attributes": {
                "resourceType": "account",
                "resourceId": account.id,
                "subtype": "accountDetails",
                "status": "error" if errors else "success",
                "errors": errors,
                "createdAt": _iso(account.synchronized_at),
                "updatedAt": _iso(account.synchronized_at),
            },
        }

    # ---- synchronizations ------------------------------------------------------------------------
    async def _create_sync(self, request: Request, failure: Failure | None) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        try:
            attributes = (await request.json())["data"]["attributes"]
            account_id, subtype = attributes["resourceId"], attributes["subtype"]
        except (ValueError, KeyError, TypeError):
            return _api_error(400, "invalidRequest", "The request body is not a synchronization.")
        if account_id not in self.accounts or attributes.get("resourceType") != "account":
            return _api_error(404, "resourceNotFound", "The requested resource was not found.", "account")
        now = self._epoch()
        recent = any(
            s.account_id == account_id and s.subtype == subtype and now - s.created < self.recent_sync_window
            for s in self.syncs.values()
        )
        if recent:
            return _api_error(
                400,
                "accountRecentlySynchronized",
                "This type of synchronization was already created recently for the account. Try again later.",
            )
        sync = SimSync(f"{secrets.token_hex(4)}-sync", account_id, subtype, now, self.sync_polls)
        self.syncs[sync.id] = sync
        return _document({"data": self._sync_resource(sync, _base(request))}, status=201)

    async def _get_sync(self, request: Request, failure: Failure | None) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        sync = self.syncs.get(request.path_params["sync_id"])
        if sync is None:
            return _api_error(404, "resourceNotFound", "The requested resource was not found.")
        self._advance(sync)
        return _document({"data": self._sync_resource(sync, _base(request))})

    def _advance(self, sync: SimSync) -> None:
        if sync.status in ("success", "error"):
            return
        sync.polls_left -= 1
        if sync.polls_left > 0:
            sync.status = "running"
            return
        code = self.sync_failures.get(sync.account_id)
        if code:
            sync.status, sync.errors = "error", [_sync_error(code)]
            return
        sync.status = "success"
        self.accounts[sync.account_id].synchronized_at = self._clock.now()
        if sync.subtype.startswith("accountTransactions"):
            sync.updated = self.late_bookings.pop(sync.account_id, [])

    def _sync_resource(self, sync: SimSync, base: str) -> dict[str, Any]:
        created = _iso(dt.datetime.fromtimestamp(sync.created, dt.UTC))
        return {
            "type": "synchronization",
            "id": sync.id,
            "attributes": {
                "resourceType": "account",
                "resourceId": sync.account_id,
                "subtype": sync.subtype,
                "status": sync.status,
                "errors": sync.errors,
                "customerOnline": False,
                "createdAt": created,
                "updatedAt": created,
            },
            "relationships": self._sync_relationships(sync, base),
        }

    def _sync_relationships(self, sync: SimSync, base: str) -> dict[str, Any]:
        # The link's exact shape is UNCERTAIN in the reference: serve either, as configured.
        url = f"{base}/synchronizations/{sync.id}/updated-transactions"
        related: Any = {"href": url} if self.updated_link_shape == "href" else url
        return {"updatedTransactions": {"links": {"related": related}}}

    async def _updated_transactions(self, request: Request, failure: Failure | None) -> Response:
        if (refused := self._refuse(request)) is not None:
            return refused
        sync = self.syncs.get(request.path_params["sync_id"])
        if sync is None:
            return _api_error(404, "resourceNotFound", "The requested resource was not found.")
        fragments = ",".join(t.json_fragment(sync.account_id) for t in reversed(sync.updated))
        return Response(
            f'{{"data":[{fragments}],"links":{{}},"meta":{{"paging":{{}}}}}}', media_type=JSON_API
        )

    # ---- /_sim control over HTTP -----------------------------------------------------------------
    async def _sim_state(self, request: Request) -> Response:
        return JSONResponse(
            {
                "token_requests": self.token_requests,
                "refreshes": self.refreshes,
                "calls": dict(collections.Counter(call.route for call in self.calls)),
                "live_refresh_tokens": self.live_refresh_tokens(),
                "revoked_tokens": self.revoked_tokens,
                "accounts": [
                    {
                        "id": a.id,
                        "bank": a.bank.name,
                        "iban": a.iban,
                        "currency": a.currency,
                        "balance": str(a.balance),
                        "transactions": len(a.transactions),
                    }
                    for a in self.accounts.values()
                ],
            }
        )

    async def _sim_fail(self, request: Request) -> Response:
        spec = await request.json()
        self.fail(spec.pop("route"), Failure(**spec))
        return JSONResponse({"ok": True})

    async def _sim_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"ok": True})

    async def _sim_expire(self, request: Request) -> Response:
        self.expire_access_tokens()
        return JSONResponse({"ok": True})

    async def _sim_transactions(self, request: Request) -> Response:
        spec = await request.json()
        added = self.add_transactions(spec["account_id"], int(spec.get("count", 1)))
        return JSONResponse({"added": [t.id for t in added]})

    async def _sim_consent(self, request: Request) -> Response:
        spec = await request.json() if await request.body() else {}
        self.expire_consent(spec.get("account_id"))
        return JSONResponse({"ok": True})


class _Listing:
    """Newest-first ids of a list kept oldest first, without copying it."""

    def __init__(self, oldest_first: list[SimTransaction], count: int, index: dict[str, int]) -> None:
        self._items = oldest_first
        self._count = count
        self._index = index

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, position: int) -> str:
        return self._items[self._count - 1 - position].id

    def position(self, transaction_id: str) -> int | None:
        """Where an id stands in the newest-first listing (0 = newest)."""
        index = self._index.get(transaction_id)
        return None if index is None else self._count - 1 - index


def _window(
    request: Request, length: int, position_of: Callable[[str], int | None]
) -> tuple[int, int, int] | Response:
    """The [start, end) listing positions a page request asks for, and the limit."""
    query = request.query_params
    try:
        limit = int(query.get("page[limit]", DEFAULT_PAGE))
    except ValueError:
        limit = -1
    if not 1 <= limit <= MAX_PAGE:
        return _api_error(400, "invalidPageLimit", f"page[limit] must be between 1 and {MAX_PAGE}.")
    after, before = query.get("page[after]"), query.get("page[before]")
    cursor = after if after is not None else before
    if cursor is None:
        return 0, min(length, limit), limit
    position = position_of(cursor)
    if position is None:
        return _api_error(404, "resourceNotFound", "The page cursor is unknown.")
    if after is not None:
        return position + 1, min(length, position + 1 + limit), limit
    return max(0, position - limit), position, limit


def _paging_links(
    base: str, listing: Sequence[str] | _Listing, start: int, end: int, limit: int
) -> dict[str, str]:
    links = {"first": f"{base}?page[limit]={limit}"}
    if end < len(listing) and end > start:
        links["next"] = f"{base}?page[limit]={limit}&page[after]={listing[end - 1]}"
    if start > 0 and end > start:
        links["prev"] = f"{base}?page[limit]={limit}&page[before]={listing[start]}"
    return links


async def _fail_early(failure: Failure) -> Response | None:
    if failure.mode == "ratelimited":
        return _api_error(
            429, "tooManyRequests", "Too many requests.", headers={"Retry-After": str(failure.retry_after)}
        )
    if failure.mode == "http_500":
        return _api_error(500, "internalServerError", "Something went wrong.")
    if failure.mode == "error":
        wait = {"Retry-After": str(failure.retry_after)} if failure.status in (429, 503) else None
        return _api_error(failure.status, failure.code, "Programmed failure.", headers=wait)
    if failure.mode == "slow":
        await asyncio.sleep(failure.seconds)
    if failure.mode == "hang":
        await asyncio.sleep(failure.seconds)
        return _api_error(504, "gatewayTimeout", "Timed out.")
    if failure.mode == "huge":
        return _huge(failure.size)
    return None


def _huge(size: int) -> Response:
    """A JSON:API document of `size` bytes (400 MB by default), generated as it is sent."""
    unit = b'{"type":"transaction","id":"x","attributes":{}},' * 2000

    async def body() -> AsyncIterator[bytes]:
        yield b'{"data":['
        for _ in range(max(1, size // len(unit))):
            yield unit
        yield b'{"type":"transaction","id":"y","attributes":{}}]}'

    return StreamingResponse(body(), media_type=JSON_API)


def _damage(response: Response, failure: Failure) -> Response:
    """Spoil a good answer as the failure asks (the status and headers stay plausible)."""
    body = bytes(response.body)
    if failure.mode == "truncated":
        return Response(body[: len(body) // 2], status_code=response.status_code, media_type=JSON_API)
    if failure.mode not in ("unknown_attribute", "unknown_type"):
        return response
    document = json.loads(body, parse_float=Decimal)
    data = document["data"]
    first = data[0] if isinstance(data, list) else data
    if failure.mode == "unknown_attribute":
        first["attributes"]["surpriseField"] = "new in a future API version"
    else:
        first["type"] = "payment"
    return Response(
        json.dumps(document, default=float), status_code=response.status_code, media_type=JSON_API
    )


def _with_request_id(response: Response) -> Response:
    response.headers["ibanity-request-id"] = secrets.token_hex(8)
    return response


def _document(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, default=float), status_code=status, media_type=JSON_API)


def _api_error(
    status: int,
    code: str,
    detail: str,
    resource: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> Response:
    meta: dict[str, Any] = {"requestId": secrets.token_hex(8)}
    if resource:
        meta["resource"] = resource
    body = {"errors": [{"code": code, "detail": detail, "meta": meta}]}
    return Response(json.dumps(body), status_code=status, media_type=JSON_API, headers=headers)


def _oauth_error(error: str, status: int = 400) -> Response:
    descriptions = {
        "invalid_grant": "The provided authorization grant or refresh token is invalid, expired or revoked.",
        "invalid_client": "Client authentication failed.",
        "unsupported_grant_type": "The grant type is not supported.",
    }
    return JSONResponse({"error": error, "error_description": descriptions.get(error, error)}, status)


def _sync_error(code: str) -> dict[str, Any]:
    details = {
        "authorizationInvalid": (
            "The authorization is invalid, you should ask the customer to reauthorize the account"
        ),
    }
    return {"code": code, "detail": details.get(code, "The synchronization failed."), "meta": {}}


def _redirect(target: str, **params: str) -> Response:
    separator = "&" if "?" in target else "?"
    return RedirectResponse(target + separator + urlencode(params), status_code=302)


def _pkce_ok(verifier: str, challenge: str) -> bool:
    if not 43 <= len(verifier) <= 128:
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return secrets.compare_digest(digest, challenge)


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def _serve_forever(args: argparse.Namespace) -> None:
    from bot.sandbox.server import serve_simulator

    sim = PontoSimulator(transactions=args.transactions, seed=args.seed)
    for account in sim.accounts.values():  # render every transaction once now, not while serving
        for transaction in account.transactions:
            transaction.json_fragment(account.id)
    async with serve_simulator(sim, port=args.port):
        print(f"ponto simulator at {sim.base_url} ({sim.total_transactions} transactions)", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the Ponto simulator on loopback.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--transactions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(parser.parse_args()))


if __name__ == "__main__":
    main()
