"""Property tests: any SOAP answer or JSON:API document gives a result or a typed error, never a
crash, and an answer read as "nothing outstanding" really had nothing in it (so no stored item is
closed by an answer we could not read). The bodies travel over httpx's transport layer, the edge
of the process, through the same clients the syncs use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import CashbotError
from bot.providers.http import RetryPolicy
from bot.providers.ponto.api import PontoClient, Transport
from bot.providers.yuki.api import MemorySessions, YukiClient
from bot.sandbox import yuki_xml
from tests.ponto_support import StaticTokens

NAMES = st.sampled_from(["Item", "Row", "ID", "OpenAmount", "DueDate", "Contact", "Group", "x:Item", "Count"])
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
ONCE = RetryPolicy(attempts=1, deadline=5.0)
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(NAMES).replace("x:", "")
    attributes = draw(st.dictionaries(st.sampled_from(["ID", "Count", "Type"]), TEXT, max_size=2))
    attrs = "".join(f' {k}="{_escape(v)}"' for k, v in attributes.items())
    children = draw(st.lists(xml_trees(depth + 1), max_size=3)) if depth < 3 else []
    return f"<{name}{attrs}>{_escape(draw(TEXT))}{''.join(children)}</{name}>"


def _answer(content: str) -> bytes:
    return yuki_xml.result("OutstandingDebtorItems", content).encode()


async def _read_items(body: bytes) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["SOAPAction"].endswith('Authenticate"'):
            return httpx.Response(200, content=yuki_xml.result("Authenticate", "session-1").encode())
        return httpx.Response(200, content=body)

    async with YukiClient(
        "http://yuki.test/ws",
        "key",
        transport=httpx.MockTransport(handler),
        policy=ONCE,
        sessions=MemorySessions(),
    ) as yuki:
        return await yuki.outstanding_debtor_items("admin")


@EXAMPLES
@given(st.lists(xml_trees(), max_size=4), st.booleans())
def test_any_soap_answer_gives_items_or_a_typed_error(trees: list[str], escaped: bool) -> None:
    content = "".join(trees)
    if escaped:
        content = _escape(content)
    try:
        answer = asyncio.run(_read_items(_answer(content)))
    except CashbotError:
        return
    if not answer.items and not answer.failures:
        # Read as "nothing outstanding": only when the result held at most one empty wrapper.
        plain = content.replace("&lt;", "<") if escaped else content
        assert len(re.findall("<(?!/)", plain)) <= 1


@EXAMPLES
@given(st.binary(max_size=300))
def test_any_bytes_as_a_soap_answer_give_a_typed_error_or_an_answer(body: bytes) -> None:
    with contextlib.suppress(CashbotError):
        asyncio.run(_read_items(body))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)


@st.composite
def jsonapi_documents(draw: st.DrawFn) -> Any:
    resource = {
        "type": draw(st.sampled_from(["transaction", "account", "payment", 7])),
        "id": draw(st.one_of(TEXT, st.integers())),
        "attributes": draw(
            st.dictionaries(
                st.sampled_from(["amount", "currency", "executionDate", "valueDate"]), JSON, max_size=4
            )
            | JSON
        ),
    }
    data = draw(st.sampled_from(["list", "one", "junk"]))
    document: dict[str, Any] = {
        "data": [resource] if data == "list" else resource if data == "one" else draw(JSON)
    }
    if draw(st.booleans()):
        document["links"] = draw(st.dictionaries(st.sampled_from(["next", "first"]), JSON, max_size=2))
    if draw(st.booleans()):
        document["meta"] = draw(JSON)
    return document


async def _read_page(body: bytes) -> Any:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with httpx.AsyncClient(transport=transport) as http:
        client = PontoClient(Transport(http, "http://ponto.test", policy=ONCE), StaticTokens("AT"))
        return await client.transactions_page("account-1")


@EXAMPLES
@given(jsonapi_documents())
def test_any_jsonapi_document_gives_a_page_or_a_typed_error(document: Any) -> None:
    with contextlib.suppress(CashbotError):
        asyncio.run(_read_page(json.dumps(document).encode()))


@EXAMPLES
@given(st.binary(max_size=300))
def test_any_bytes_as_a_jsonapi_document_give_a_typed_error_or_a_page(body: bytes) -> None:
    with contextlib.suppress(CashbotError):
        asyncio.run(_read_page(body))
