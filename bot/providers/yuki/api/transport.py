"""An httpx transport that asks a gate before every request and caps the size of each answer.

Every HTTP request counts against Yuki's daily call limit, retries included, so the gate sits
here, below the retry loop, where each attempt passes. The size cap keeps a hostile or broken
server from filling memory before the parser ever sees a byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from bot.errors import AnswerTooLarge

CallGate = Callable[[str], Awaitable[None]]
"""Called with the operation name before each request; raises (e.g. RateLimited) to stop it."""

GATE = "cashbot.yuki.gate"
OPERATION = "cashbot.yuki.operation"
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ResponseTooLarge(AnswerTooLarge):
    """The answer is larger than the client accepts."""


class GuardedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport: gate first, then the request, then a byte-counting response stream."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> None:
        self._inner = inner
        self._max_bytes = max_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        gate = request.extensions.get(GATE)
        if gate is not None:
            await gate(str(request.extensions.get(OPERATION, "")))
        response = await self._inner.handle_async_request(request)
        if not isinstance(response.stream, httpx.AsyncByteStream):  # pragma: no cover - sync transport
            raise TypeError("GuardedTransport needs an async transport")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            await response.aclose()
            raise self._too_large()
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedStream(response.stream, self._max_bytes, self._too_large),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()

    def _too_large(self) -> ResponseTooLarge:
        return ResponseTooLarge("yuki", f"the answer is larger than {self._max_bytes} bytes")


class _CappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, max_bytes: int, error: Callable[[], Exception]) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._max_bytes:
                await self.aclose()
                raise self._error()
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()
