"""Hostile XML from "Yuki": bombs and external entities are refused at once, in little memory."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from bot.errors import MalformedResponse
from bot.providers.yuki.api import YukiClient
from bot.providers.yuki.api.protocol import OUTSTANDING_DEBTOR_ITEMS
from bot.providers.yuki.api.reader import read_answer
from bot.sandbox import yuki_xml
from bot.sandbox.yuki import SANDBOX_KEY, YukiSimulator

MEMORY_CAP = 8 * 1024 * 1024  # the bomb would expand to about 3 GB


async def test_xml_bomb_over_http_is_rejected_quickly_with_bounded_memory(yuki_sim: YukiSimulator) -> None:
    async with YukiClient(yuki_sim.api_url, SANDBOX_KEY) as client:
        await client.administrations()
        yuki_sim.fail("xml_bomb")
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(MalformedResponse) as caught:
                await client.outstanding_debtor_items(yuki_sim.main.id)
            elapsed = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert "DTD" in str(caught.value)
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    assert peak < MEMORY_CAP, f"peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    "document",
    [
        yuki_xml.billion_laughs("OutstandingDebtorItems"),
        yuki_xml.external_entity("OutstandingDebtorItems"),
        # An entity used without any declaration: nothing may be expanded or fetched.
        yuki_xml.result("OutstandingDebtorItems", '<Item ID="a"><Contact>&xxe;</Contact></Item>'),
        # A DTD smuggled inside escaped (string-typed) result text.
        yuki_xml.result(
            "OutstandingDebtorItems",
            yuki_xml.escape('<!DOCTYPE x [<!ENTITY a "b">]><x><Item ID="a">&a;</Item></x>'),
        ),
    ],
    ids=["billion-laughs", "external-entity", "undeclared-entity", "dtd-in-escaped-result"],
)
def test_parser_refuses_entities_in_every_form(document: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(MalformedResponse):
            read_answer(document.encode(), OUTSTANDING_DEBTOR_ITEMS, lambda element: element)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < MEMORY_CAP


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"<html><body>Service Unavailable</body></html>",
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body/></soap:Envelope>',
        "<?xml version='1.0' encoding='utf-16'?><a/>".encode("utf-16"),
        b"\xff\xfe\x00garbage",
    ],
    ids=["empty", "html", "no-result", "utf16-not-soap", "binary"],
)
def test_parser_gives_a_typed_error_for_anything_that_is_not_an_answer(document: bytes) -> None:
    with pytest.raises(MalformedResponse):
        read_answer(document, OUTSTANDING_DEBTOR_ITEMS, lambda element: element)


def test_items_in_an_unexpected_namespace_are_still_read() -> None:
    document = yuki_xml.envelope(
        '<r:OutstandingDebtorItemsResponse xmlns:r="urn:other"><r:OutstandingDebtorItemsResult>'
        '<x:Items xmlns:x="urn:else"><x:Item ID="1"/><deeper><Item ID="2"/></deeper></x:Items>'
        "</r:OutstandingDebtorItemsResult></r:OutstandingDebtorItemsResponse>"
    )

    answer = read_answer(document.encode(), OUTSTANDING_DEBTOR_ITEMS, lambda element: element.get("ID"))

    assert answer.records == ["1", "2"]
