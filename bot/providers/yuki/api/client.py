"""YukiClient: Yuki's SOAP web services over httpx, written like a library (no storage, no Slack)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import TypeVar

import httpx

from bot.errors import AnswerTooLarge, MalformedResponse, ProviderUnavailable, RateLimited, ReauthRequired
from bot.providers.http import ResilientSender, RetryPolicy, Sleep, retry_after_seconds
from bot.providers.yuki.api.faults import (
    DEFAULT_FAULT_RULES,
    PROVIDER,
    FaultRules,
    SessionRejected,
    fault_error,
)
from bot.providers.yuki.api.items import read_administration, read_gl_account, read_item
from bot.providers.yuki.api.models import (
    Administration,
    GLAccountBalance,
    ItemFailure,
    OutstandingItem,
    OutstandingItems,
)
from bot.providers.yuki.api.protocol import (
    ADMINISTRATIONS,
    AUTHENTICATE,
    CONTENT_TYPE,
    GL_ACCOUNT_BALANCE,
    OUTSTANDING_CREDITOR_ITEMS,
    OUTSTANDING_DEBTOR_ITEMS,
    SORT_ORDERS,
    Operation,
    envelope,
    is_xml_safe,
)
from bot.providers.yuki.api.reader import DEFAULT_LIMITS, Answer, AnswerReader, Convert, ReadLimits
from bot.providers.yuki.api.session import MemorySessions, SessionStore, session_owner
from bot.providers.yuki.api.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    GATE,
    OPERATION,
    CallGate,
    GuardedTransport,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# SOAP faults arrive as HTTP 500 and must not be retried (a wrong key would cost four calls);
# only gateway errors and 429 are worth another attempt.
DEFAULT_POLICY = RetryPolicy(
    attempts=3,
    retry_statuses=frozenset({429, 502, 503, 504}),
    deadline=90.0,
    timeout=httpx.Timeout(30.0, connect=5.0),
)
MAX_KEY_LENGTH = 200
MAX_SESSION_LENGTH = 128
PARSE_IN_THREAD_BYTES = 256 * 1024  # bigger answers are parsed off the event loop


class YukiClient:
    """One access key at one Yuki host: sessions cached and renewed, every call through a gate.

    async with YukiClient(url, key, gate=budget_gate) as yuki:
        admins = await yuki.administrations()
        items = await yuki.outstanding_debtor_items(admins[0].id)
    """

    def __init__(
        self,
        base_url: str,
        access_key: str,
        *,
        gate: CallGate | None = None,
        sessions: SessionStore | None = None,
        policy: RetryPolicy = DEFAULT_POLICY,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        fault_rules: FaultRules = DEFAULT_FAULT_RULES,
        default_currency: str = "EUR",
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> None:
        self._limits = limits
        self._base_url = base_url.rstrip("/")
        self._key = access_key.strip()
        self._gate = gate
        self._sessions: SessionStore = sessions if sessions is not None else MemorySessions()
        self._owner = session_owner(self._base_url, self._key)
        self._rules = fault_rules
        self._currency = default_currency
        guarded = GuardedTransport(transport or httpx.AsyncHTTPTransport(), max_bytes=max_response_bytes)
        self._http = httpx.AsyncClient(transport=guarded, timeout=policy.timeout, follow_redirects=False)
        self._sender = ResilientSender(self._http, PROVIDER, policy, sleep=sleep)
        self._auth_lock = asyncio.Lock()
        self.requests = 0
        """HTTP requests sent so far (each retry counts, as it does at Yuki)."""

    async def __aenter__(self) -> YukiClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- operations -----------------------------------------------------------------------
    async def authenticate(self) -> str:
        """The session id of this key: the cached one, or a new one from Authenticate."""
        cached = self._sessions.get(self._owner)
        if cached is not None:
            return cached
        async with self._auth_lock:
            cached = self._sessions.get(self._owner)
            if cached is not None:
                return cached
            session_id = await self._authenticate()
            self._sessions.put(self._owner, session_id)
            return session_id

    async def administrations(self) -> list[Administration]:
        """Every administration the key reaches."""
        answer = await self._session_call(ADMINISTRATIONS, [], read_administration)
        return [admin for admin in answer.records if admin is not None]

    async def outstanding_debtor_items(
        self, administration_id: str, *, include_bank_transactions: bool = False, sort_order: str = "DateAsc"
    ) -> OutstandingItems:
        """Open receivables (sales invoices and credit notes) of an administration."""
        return await self._outstanding(
            OUTSTANDING_DEBTOR_ITEMS, administration_id, include_bank_transactions, sort_order
        )

    async def outstanding_creditor_items(
        self, administration_id: str, *, include_bank_transactions: bool = False, sort_order: str = "DateAsc"
    ) -> OutstandingItems:
        """Open payables (purchase invoices and credit notes) of an administration."""
        return await self._outstanding(
            OUTSTANDING_CREDITOR_ITEMS, administration_id, include_bank_transactions, sort_order
        )

    async def gl_account_balance(
        self, administration_id: str, transaction_date: dt.date
    ) -> list[GLAccountBalance]:
        """The balance of every general-ledger account on a date (a trial balance)."""
        params = [
            (GL_ACCOUNT_BALANCE.service.administration_param, administration_id),
            ("transactionDate", transaction_date.isoformat()),
        ]
        answer = await self._session_call(GL_ACCOUNT_BALANCE, params, read_gl_account)
        return [line for line in answer.records if line is not None]

    # ---- plumbing -----------------------------------------------------------------------------
    async def _outstanding(
        self, operation: Operation, administration_id: str, include: bool, sort_order: str
    ) -> OutstandingItems:
        if sort_order not in SORT_ORDERS:
            raise ValueError(f"unknown sortOrder {sort_order!r}")
        params = [
            (operation.service.administration_param, administration_id),
            ("includeBankTransactions", "true" if include else "false"),
            ("sortOrder", sort_order),
        ]
        currency = self._currency
        answer = await self._session_call(operation, params, lambda element: read_item(element, currency))
        result = OutstandingItems(declared_count=answer.declared_count)
        for record in answer.records:
            if isinstance(record, OutstandingItem):
                result.items.append(record)
            elif isinstance(record, ItemFailure):
                result.failures.append(record)
        return result

    async def _authenticate(self) -> str:
        if not self._key or len(self._key) > MAX_KEY_LENGTH or not is_xml_safe(self._key):
            raise ReauthRequired(PROVIDER, "the access key is not in a valid format", code="invalid_key")
        answer: Answer[None] = await self._post(AUTHENTICATE, [("accessKey", self._key)])
        session_id = answer.result_text or ""
        if not session_id or len(session_id) > MAX_SESSION_LENGTH or not session_id.isprintable():
            raise MalformedResponse(PROVIDER, "Authenticate returned no usable session id")
        if any(character.isspace() for character in session_id):
            raise MalformedResponse(PROVIDER, "Authenticate returned no usable session id")
        return session_id

    async def _session_call(
        self, operation: Operation, params: Sequence[tuple[str, str]], convert: Convert[T]
    ) -> Answer[T]:
        """Call with the session id; a refused session is renewed once, then the call retried."""
        for attempt in (1, 2):
            session_id = await self.authenticate()
            full = [(operation.service.session_param, session_id), *params]
            try:
                return await self._post(operation, full, convert, secrets=(session_id,))
            except SessionRejected:
                self._sessions.drop(self._owner, session_id)
                if attempt == 2:
                    break
                log.info("yuki.session_renewed", extra={"operation": operation.name})
        raise ProviderUnavailable(
            PROVIDER, f"{operation.name}: Yuki refused a freshly issued session", code="session_rejected"
        )

    async def _post(
        self,
        operation: Operation,
        params: Sequence[tuple[str, str]],
        convert: Convert[T] | None = None,
        *,
        secrets: Sequence[str] = (),
    ) -> Answer[T]:
        body = envelope(operation, params)
        url = operation.service.url(self._base_url)

        def build() -> httpx.Request:
            return self._http.build_request(
                "POST",
                url,
                content=body,
                headers={"Content-Type": CONTENT_TYPE, "SOAPAction": operation.soap_action},
                extensions={GATE: self._through_gate, OPERATION: operation.name},
            )

        response = await self._sender.send(build, stream=True)
        try:
            return await self._answer(operation, response, convert, (self._key, *secrets))
        finally:
            await response.aclose()

    async def _through_gate(self, operation: str) -> None:
        if self._gate is not None:
            await self._gate(operation)
        self.requests += 1

    async def _answer(
        self,
        operation: Operation,
        response: httpx.Response,
        convert: Convert[T] | None,
        secrets: Sequence[str],
    ) -> Answer[T]:
        status = response.status_code
        if status == 429:
            raise RateLimited(
                PROVIDER,
                f"{operation.name}: too many requests",
                retry_after=retry_after_seconds(response),
                status=429,
            )
        if status not in (200, 500):
            raise ProviderUnavailable(PROVIDER, f"{operation.name}: HTTP {status}", status=status)
        try:
            answer = await self._read(response, operation, convert)
        except AnswerTooLarge:
            raise
        except MalformedResponse:
            if status == 500:
                raise ProviderUnavailable(PROVIDER, f"{operation.name}: HTTP 500", status=500) from None
            raise
        if answer.fault is not None:
            raise fault_error(answer.fault, operation.name, self._rules, secrets=secrets)
        if status == 500:
            raise ProviderUnavailable(PROVIDER, f"{operation.name}: HTTP 500 without a fault", status=500)
        return answer

    async def _read(
        self, response: httpx.Response, operation: Operation, convert: Convert[T] | None
    ) -> Answer[T]:
        """Parse the answer as its bytes arrive; a big answer is parsed off the event loop."""
        reader: AnswerReader[T] = AnswerReader(operation, convert, self._limits)
        pending: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                pending.append(chunk)
                size += len(chunk)
                if size >= PARSE_IN_THREAD_BYTES:
                    await asyncio.to_thread(_feed, reader, pending)
                    pending, size = [], 0
        except httpx.HTTPError as error:
            raise ProviderUnavailable(
                PROVIDER, f"{operation.name}: {type(error).__name__} while reading"
            ) from None
        _feed(reader, pending)
        return reader.close()


def _feed(reader: AnswerReader[T], chunks: list[bytes]) -> None:
    for chunk in chunks:
        reader.feed(chunk)
