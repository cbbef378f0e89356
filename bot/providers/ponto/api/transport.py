"""HTTP to Ponto: optional mTLS, a total deadline and retries per call, idempotency keys on POST.

Every request goes to the configured API origin only: a `links.next` pointing anywhere else is
refused, so a bearer token is never sent to a host we did not choose.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from bot.errors import AnswerTooLarge, ProviderUnavailable
from bot.providers.http import ResilientSender, RetryPolicy, Sleep
from bot.providers.ponto.api.errors import PROVIDER, REQUEST_ID_HEADER, malformed
from bot.providers.ponto.api.jsonapi import MAX_DOCUMENT_BYTES

JSON_API = "application/vnd.api+json"
IDEMPOTENCY_HEADER = "Ibanity-Idempotency-Key"


def ssl_context(
    cert: str | None = None, key: str | None = None, *, cafile: str | None = None
) -> ssl.SSLContext:
    """Verifying TLS context; with `cert` (and `key`) it presents the client certificate (mTLS)."""
    context = ssl.create_default_context(cafile=cafile)
    if cert:
        context.load_cert_chain(cert, key)
    return context


def http_client(
    cert: str | None = None,
    key: str | None = None,
    *,
    cafile: str | None = None,
    policy: RetryPolicy | None = None,
) -> httpx.AsyncClient:
    """The httpx client for Ponto: TLS (mTLS when a certificate is given), no redirects followed."""
    return httpx.AsyncClient(
        verify=ssl_context(cert, key, cafile=cafile),
        timeout=(policy or RetryPolicy()).timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


class Transport:
    """Sends requests to one Ponto API origin and counts them (each attempt is one call)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.http = http
        parts = urlsplit(self.api_url)
        self._origin = (parts.scheme, parts.netloc.lower())
        self._sender = ResilientSender(
            http, PROVIDER, policy, sleep=sleep, rng=rng, request_id_header=REQUEST_ID_HEADER
        )
        self.calls = 0

    def url(self, path: str) -> str:
        return self.api_url + "/" + path.lstrip("/")

    def same_origin(self, url: str) -> str:
        """`url` made absolute against the API, refused unless it is on the API's own origin."""
        absolute = urljoin(self.api_url + "/", url)
        parts = urlsplit(absolute)
        if (parts.scheme, parts.netloc.lower()) != self._origin:
            raise malformed(None, f"a link points outside the Ponto API ({parts.netloc[:60]})")
        return absolute

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One logical call, retried per the policy; POSTs carry one idempotency key for all attempts."""
        target = self.same_origin(url)
        all_headers = {"Accept": JSON_API, **(headers or {})}
        if method == "POST":
            all_headers.setdefault(IDEMPOTENCY_HEADER, str(uuid.uuid4()))
        if json_body is not None:
            all_headers["Content-Type"] = JSON_API

        def build() -> httpx.Request:
            self.calls += 1
            return self.http.build_request(method, target, headers=all_headers, json=json_body, data=form)

        response = await self._sender.send(build, retry=retry, stream=True)
        try:
            body = await read_capped(response, MAX_DOCUMENT_BYTES)
        finally:
            await response.aclose()
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=response.request
        )


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes: a huge answer is never held whole."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
    except httpx.HTTPError as error:
        raise ProviderUnavailable(PROVIDER, f"{type(error).__name__} while reading the answer") from None
    return b"".join(chunks)


def too_large(limit: int) -> AnswerTooLarge:
    return AnswerTooLarge(PROVIDER, f"the answer is larger than {limit} bytes", code="too_large")
