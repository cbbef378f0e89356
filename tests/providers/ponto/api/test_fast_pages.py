"""The fast transaction-page reader agrees with the reference reader on every document."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest

from bot.errors import MalformedResponse
from bot.providers.ponto.api.fast_pages import read_transaction_page
from bot.providers.ponto.api.jsonapi import parse_document
from bot.providers.ponto.api.models import Page, Reader, Transaction, read_page, read_transaction

GOOD: dict[str, Any] = {
    "data": [
        {
            "type": "transaction",
            "id": "tx-1",
            "attributes": {
                "amount": -3095.56,
                "currency": "EUR",
                "executionDate": "2026-11-23T16:54:00.000Z",
                "valueDate": "2026-11-23T00:00:00.000Z",
                "counterpartName": "Verzekeringen Noord NV",
                "remittanceInformation": "+++090/9337/55493+++",
                "remittanceInformationType": "structured",
                "internalReference": "a2f5",
            },
            "relationships": {"account": {"data": {"type": "account", "id": "acc-1"}}},
        },
        {
            "type": "transaction",
            "id": "tx-2",
            "attributes": {"amount": 12, "currency": "USD", "executionDate": "2026-11-22T23:00:00+01:00"},
        },
    ],
    "links": {"next": "https://api.example/accounts/acc-1/transactions?page[after]=tx-2"},
    "meta": {"synchronizedAt": "2026-11-24T08:00:00Z", "paging": {"limit": 100}},
}


def reference(content: bytes, strict: bool) -> Page[Transaction] | str:
    response = httpx.Response(200, content=content, request=httpx.Request("GET", "https://api.example/x"))
    try:
        document = parse_document(response, "transaction")
        return read_page(Reader(response, "error" if strict else "ignore"), document, read_transaction)
    except MalformedResponse as error:
        return f"refused: {error}"


def mutated(path: list[Any], value: Any) -> bytes:
    document = copy.deepcopy(GOOD)
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(document).encode()


# (path, value, what the fast reader does with it: "takes" the page itself, "defers" it to the
# reference reader, or takes it only when lenient), and whether the reference accepts it.
TAKES, DEFERS, LENIENT_ONLY = "takes", "defers", "lenient only"
CASES = [
    ([], None, TAKES, True),
    (["data", 0, "attributes", "amount"], "12.30", DEFERS, False),  # a string amount
    (["data", 0, "attributes", "amount"], 1.23456, DEFERS, False),  # more than 4 decimals
    (["data", 0, "attributes", "amount"], None, DEFERS, False),
    (["data", 0, "attributes", "amount"], KeyError, DEFERS, False),
    (["data", 0, "attributes", "currency"], "eur", DEFERS, False),
    (["data", 0, "attributes", "executionDate"], "2026-11-23", DEFERS, True),  # a bare date
    (["data", 0, "attributes", "executionDate"], "2026-11-23T10:00:00", TAKES, True),  # naive: UTC
    (["data", 0, "attributes", "executionDate"], "yesterday", DEFERS, False),
    (["data", 0, "attributes", "surpriseField"], 1, LENIENT_ONLY, None),  # refused only when strict
    (["data", 0, "attributes", "fee"], "a lot", DEFERS, True),
    (["data", 0, "attributes", "counterpartName"], 42, DEFERS, False),
    (["data", 0, "type"], "payment", DEFERS, False),
    (["data", 0, "id"], "", DEFERS, False),
    (["data", 0, "id"], "x" * 65, DEFERS, False),
    (["data", 0, "meta"], [], DEFERS, False),
    (["links", "next"], {"href": "https://api.example/next"}, TAKES, True),
    (["links", "next"], "", DEFERS, False),
    (["links"], "nope", DEFERS, False),
    (["meta", "synchronizedAt"], "not a time", DEFERS, False),
    (["data"], {"type": "transaction"}, DEFERS, False),
]


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize(("path", "value", "fast_reader", "accepted"), CASES)
def test_fast_reader_takes_what_it_should_and_agrees_with_the_reference(
    path: list[Any], value: Any, fast_reader: str, accepted: bool | None, strict: bool
) -> None:
    content = json.dumps(GOOD).encode() if not path else mutated(path, value)

    fast = read_transaction_page(content, strict=strict)
    expected = reference(content, strict)

    takes = fast_reader == TAKES or (fast_reader == LENIENT_ONLY and not strict)
    assert (fast is not None) == takes, "the fast reader took a page it should defer, or the reverse"
    refused = strict if accepted is None else not accepted
    assert isinstance(expected, str) == refused, expected
    if fast is not None:
        assert fast == expected


def test_fast_reader_handles_the_common_page() -> None:
    page = read_transaction_page(json.dumps(GOOD).encode(), strict=True)

    assert page is not None and [t.id for t in page.items] == ["tx-1", "tx-2"]
    assert page == reference(json.dumps(GOOD).encode(), True)


def test_truncated_or_hostile_bodies_go_to_the_reference_reader() -> None:
    for content in (b'{"data": [', b"NaN", b'{"data": [], "links": {"next": 1}}', b"\xff\xfe"):
        assert read_transaction_page(content, strict=True) is None
