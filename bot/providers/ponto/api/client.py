"""The Ponto Connect API for one organisation: accounts, transactions, synchronizations.

Collections are read a page at a time (`page[limit]=100`, then `links.next` verbatim), so a
caller can store each page before asking for the next and resume from a saved `next_url`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx

from bot.providers.ponto.api.errors import api_error
from bot.providers.ponto.api.fast_pages import read_transaction_page
from bot.providers.ponto.api.jsonapi import MAX_DOCUMENT_BYTES, Resource, parse_document
from bot.providers.ponto.api.models import (
    Account,
    FinancialInstitution,
    Page,
    Reader,
    Synchronization,
    Transaction,
    UnknownAttributes,
    read_account,
    read_financial_institution,
    read_page,
    read_synchronization,
    read_transaction,
)
from bot.providers.ponto.api.transport import Transport

PAGE_LIMIT = 100  # Ponto's maximum page size
T = TypeVar("T")


class TokenSource(Protocol):
    """Hands out a valid access token; told when the API refused one."""

    async def access_token(self) -> str: ...

    async def token_rejected(self, token: str) -> None: ...


class PontoClient:
    """Typed calls to the API; failures raise bot.errors types (see errors.py)."""

    def __init__(
        self,
        transport: Transport,
        tokens: TokenSource,
        *,
        unknown_attributes: UnknownAttributes = "error",
    ) -> None:
        self.transport = transport
        self._tokens = tokens
        self._unknown = unknown_attributes

    @property
    def calls(self) -> int:
        return self.transport.calls

    # ---- accounts -------------------------------------------------------------------------------
    async def accounts_page(self, url: str | None = None) -> Page[Account]:
        response = await self._get(url or self.transport.url(f"/accounts?page[limit]={PAGE_LIMIT}"))
        return self._page(response, "account", read_account)

    async def accounts(self) -> list[Account]:
        """Every account shared with this integration (usually one page)."""
        return [account async for account in self._all(self.accounts_page)]

    # ---- transactions ---------------------------------------------------------------------------
    def transactions_url(self, account_id: str) -> str:
        return self.transport.url(
            _path("accounts", account_id, "transactions") + f"?page[limit]={PAGE_LIMIT}"
        )

    async def transactions_page(self, account_id: str, url: str | None = None) -> Page[Transaction]:
        """The newest page of an account's transactions, or the page at `url` (a saved next_url)."""
        response = await self._get(url or self.transactions_url(account_id))
        if len(response.content) <= MAX_DOCUMENT_BYTES:
            fast = read_transaction_page(response.content, strict=self._unknown == "error")
            if fast is not None:
                return self._same_origin(fast)
        return self._page(response, "transaction", read_transaction)

    async def updated_transactions(self, url: str) -> list[Transaction]:
        """The transactions a synchronization added or changed (row 3.7b), every page of them."""
        first = url

        async def page(next_url: str | None) -> Page[Transaction]:
            return await self.transactions_page("", next_url or first)

        return [transaction async for transaction in self._all(page)]

    # ---- banks ----------------------------------------------------------------------------------
    async def financial_institution(self, institution_id: str) -> FinancialInstitution:
        response = await self._get(self.transport.url(_path("financial-institutions", institution_id)))
        return read_financial_institution(self._reader(response), self._one(response, "financialInstitution"))

    # ---- synchronizations -----------------------------------------------------------------------
    async def create_synchronization(
        self, account_id: str, subtype: str, *, customer_ip: str | None = None
    ) -> Synchronization:
        """Ask Ponto to refresh an account from the bank (`accountDetails` or `accountTransactions`)."""
        attributes: dict[str, Any] = {"resourceType": "account", "resourceId": account_id, "subtype": subtype}
        if customer_ip:
            attributes["customerIpAddress"] = customer_ip
        body = {"data": {"type": "synchronization", "attributes": attributes}}
        response = await self._authorized("POST", self.transport.url("/synchronizations"), json_body=body)
        if response.status_code not in (200, 201):
            raise api_error(response)
        return read_synchronization(self._reader(response), self._one(response, "synchronization"))

    async def synchronization(self, synchronization_id: str) -> Synchronization:
        response = await self._get(self.transport.url(_path("synchronizations", synchronization_id)))
        return read_synchronization(self._reader(response), self._one(response, "synchronization"))

    # ---- plumbing -------------------------------------------------------------------------------
    async def _all(self, fetch: Callable[[str | None], Any]) -> AsyncIterator[Any]:
        url: str | None = None
        seen: set[str] = set()
        while True:
            page = await fetch(url)
            for item in page.items:
                yield item
            if page.next_url is None or page.next_url in seen:
                return
            seen.add(page.next_url)
            url = page.next_url

    async def _get(self, url: str) -> httpx.Response:
        response = await self._authorized("GET", url)
        if response.status_code != 200:
            raise api_error(response)
        return response

    async def _authorized(self, method: str, url: str, *, json_body: Any = None) -> httpx.Response:
        """Send with the current token; on 401 get a fresh one once and try again."""
        token = await self._tokens.access_token()
        response = await self._send(method, url, token, json_body)
        if response.status_code == 401:
            await self._tokens.token_rejected(token)
            response = await self._send(method, url, await self._tokens.access_token(), json_body)
        return response

    async def _send(self, method: str, url: str, token: str, json_body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        return await self.transport.send(method, url, headers=headers, json_body=json_body)

    def _reader(self, response: httpx.Response) -> Reader:
        return Reader(response, self._unknown)

    def _page(self, response: httpx.Response, kind: str, read: Callable[[Reader, Resource], T]) -> Page[T]:
        document = parse_document(response, kind)
        return self._same_origin(read_page(self._reader(response), document, read))

    def _same_origin(self, page: Page[T]) -> Page[T]:
        if page.next_url is None:
            return page
        return Page(page.items, self.transport.same_origin(page.next_url), page.synchronized_at)

    def _one(self, response: httpx.Response, kind: str) -> Resource:
        return parse_document(response, kind).one()


def _path(*segments: str) -> str:
    """A path from segments, each quoted (ids come from the provider and are not trusted)."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)
