"""Transaction pages decoded in one pass with msgspec: the hot path of a large sync.

A first sync of a busy account reads a thousand pages of a hundred transactions. The reference
reader (`jsonapi.parse_document` + `models.read_transaction`) walks each document in Python;
this module lets msgspec decode and type-check it in C, then applies the same converters.

It only ever speeds up a document the reference reader accepts: when msgspec refuses a page,
or a converter does, it returns None and the caller reads the page with the reference reader,
which then names the problem in its own words. So both paths accept the same documents and
produce the same models (a test compares them on good and broken pages).
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from bot.providers.ponto.api.models import MAX_TEXT, Page, Transaction, moment, number, text

Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# What models.currency accepts, checked by msgspec instead.
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
# RFC 3339 times, parsed by msgspec; anything else (a bare date) falls back to the reference reader.
Moment = dt.datetime


class _Attributes(msgspec.Struct, rename="camel"):
    """Every attribute the reference schema knows (models.TRANSACTION), typed."""

    # Any (numbers arrive as int or, through float_hook, as exact Decimal): a string amount is
    # then refused by `number`, as the reference reader refuses it.
    amount: Any
    currency: Currency
    execution_date: Moment
    value_date: Moment | None = None
    description: Text | None = None
    remittance_information: Text | None = None
    remittance_information_type: Text | None = None
    counterpart_name: Text | None = None
    counterpart_reference: Text | None = None
    bank_transaction_code: Text | None = None
    proprietary_bank_transaction_code: Text | None = None
    purpose_code: Text | None = None
    end_to_end_id: Text | None = None
    mandate_id: Text | None = None
    creditor_id: Text | None = None
    additional_information: Text | None = None
    card_reference: Text | None = None
    card_reference_type: Text | None = None
    fee: Any = None
    internal_reference: Text | None = None
    digest: Text | None = None
    created_at: Moment | None = None
    updated_at: Moment | None = None


class _StrictAttributes(_Attributes, forbid_unknown_fields=True):
    """The same, refusing attributes this client does not know (PONTO_UNKNOWN_ATTRIBUTES=error)."""


class _Resource(msgspec.Struct):
    type: Literal["transaction"]
    id: Ident
    attributes: _Attributes
    meta: dict[str, Any] | None = None
    relationships: dict[str, Any] | None = None


class _StrictResource(_Resource):
    attributes: _StrictAttributes


class _Document(msgspec.Struct):
    data: list[_Resource]
    links: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None


class _StrictDocument(_Document):
    data: list[_StrictResource]  # type: ignore[assignment]


@functools.cache
def _decoder(strict: bool) -> msgspec.json.Decoder[_Document]:
    return msgspec.json.Decoder(_StrictDocument if strict else _Document, float_hook=Decimal)


def read_transaction_page(content: bytes, *, strict: bool) -> Page[Transaction] | None:
    """The page, or None when the reference reader must look at it (see the module docstring)."""
    try:
        document = _decoder(strict).decode(content)
        items = [_transaction(resource.id, resource.attributes) for resource in document.data]
        links = document.links or {}
        meta = document.meta or {}
        return Page(items, _link(links.get("next")), moment(meta.get("synchronizedAt")))
    except (msgspec.MsgspecError, ValueError, TypeError):
        return None


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """As models.moment leaves it: aware and in UTC (a naive time is taken as UTC)."""
    if moment is None or moment.tzinfo is dt.UTC:
        return moment
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _transaction(ident: str, a: _Attributes) -> Transaction:
    amount = number(a.amount)
    if amount is None:
        raise ValueError("amount is null")
    number(a.fee)
    return Transaction(
        ident,
        amount,
        a.currency,
        _utc(a.execution_date),  # type: ignore[arg-type]  # required by the struct
        _utc(a.value_date),
        a.counterpart_name,
        a.counterpart_reference,
        a.description,
        a.remittance_information,
        a.remittance_information_type,
        a.bank_transaction_code,
        a.end_to_end_id,
    )


def _link(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("href")
    if not isinstance(value, str) or not value:
        raise ValueError("links.next is not a URL")
    return text(value)
