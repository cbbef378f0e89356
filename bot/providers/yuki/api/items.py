"""Turns one record element of an answer into a value, or into a failure that says why."""

from __future__ import annotations

import hashlib
from xml.etree.ElementTree import Element, tostring

from bot.providers.yuki.api.models import Administration, GLAccountBalance, ItemFailure, OutstandingItem
from bot.providers.yuki.api.reader import local_name
from bot.providers.yuki.api.values import (
    ValueProblem,
    parse_amount,
    parse_currency,
    parse_date,
    parse_optional_amount,
)

MAX_ID_LENGTH = 64


def children(element: Element) -> dict[str, Element]:
    """Direct children by local name (the first of each name wins)."""
    found: dict[str, Element] = {}
    for child in element:
        found.setdefault(local_name(child.tag), child)
    return found


def text_of(fields: dict[str, Element], name: str) -> str | None:
    """The stripped text of a child, None when absent or empty."""
    child = fields.get(name)
    text = (child.text or "").strip() if child is not None else ""
    return text or None


def read_item(element: Element, default_currency: str) -> OutstandingItem | ItemFailure:
    """An outstanding debtor or creditor item; never raises."""
    fields = children(element)
    item_id = (element.get("ID") or text_of(fields, "ID") or "").strip()
    if not item_id:
        return ItemFailure(_stand_in(element), "the item has no ID")
    if len(item_id) > MAX_ID_LENGTH or not item_id.isprintable():
        return ItemFailure(_stand_in(element), "the item's ID is not a usable identifier")
    try:
        return _item(item_id, fields, default_currency)
    except ValueProblem as problem:
        return ItemFailure(item_id, str(problem))


def _item(item_id: str, fields: dict[str, Element], default_currency: str) -> OutstandingItem:
    kind = fields.get("Type")
    return OutstandingItem(
        id=item_id,
        open_amount=parse_amount(text_of(fields, "OpenAmount"), "OpenAmount"),
        original_amount=parse_optional_amount(text_of(fields, "OriginalAmount"), "OriginalAmount"),
        currency=parse_currency(
            text_of(fields, "Currency") or text_of(fields, "CurrencyCode"), default_currency
        ),
        contact=text_of(fields, "Contact"),
        contact_code=text_of(fields, "ContactCode"),
        contact_id=text_of(fields, "ContactID"),
        reference=text_of(fields, "Reference"),
        description=text_of(fields, "Description"),
        type_name=text_of(fields, "Type"),
        type_id=kind.get("ID") if kind is not None else None,
        date=parse_date(text_of(fields, "Date"), "Date"),
        due_date=parse_date(text_of(fields, "DueDate"), "DueDate"),
    )


def _stand_in(element: Element) -> str:
    """A stable key for an item without a usable ID, so it is recorded instead of dropped."""
    return "noid:" + hashlib.sha256(tostring(element)).hexdigest()[:32]


def read_administration(element: Element) -> Administration | None:
    """An administration; None when it has no ID (nothing could be done with it)."""
    fields = children(element)
    admin_id = (element.get("ID") or text_of(fields, "ID") or "").strip()
    if not admin_id or len(admin_id) > MAX_ID_LENGTH:
        return None
    return Administration(
        id=admin_id,
        name=text_of(fields, "Name") or admin_id,
        domain_id=element.get("DomainID") or text_of(fields, "DomainID"),
        country=text_of(fields, "Country"),
    )


def read_gl_account(element: Element) -> GLAccountBalance | None:
    """A ledger account's balance; an unreadable amount is kept as a problem, not a guess."""
    fields = children(element)
    code = (element.get("Code") or text_of(fields, "Code") or "").strip()
    if not code:
        return None
    try:
        amount = parse_amount(text_of(fields, "Amount"), f"Amount of {code[:32]}")
        problem = None
    except ValueProblem as error:
        amount, problem = None, str(error)
    return GLAccountBalance(
        code=code,
        amount=amount,
        description=text_of(fields, "Description"),
        balance_type=element.get("BalanceType") or text_of(fields, "BalanceType"),
        problem=problem,
    )
