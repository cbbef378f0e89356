"""The XML the Yuki simulator answers with: SOAP 1.1 envelopes, faults, and hostile documents."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from bot.sandbox.yuki_seed import SimAdministration, SimGLAccount, SimItem

YUKI_NS = "http://www.theyukicompany.com/"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'


def envelope(inner: str) -> str:
    return (
        f'{_DECLARATION}<soap:Envelope xmlns:soap="{SOAP11_NS}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        f"<soap:Body>{inner}</soap:Body></soap:Envelope>"
    )


def result(operation: str, content: str) -> str:
    """`<{Op}Response><{Op}Result>content</…>` in Yuki's namespace."""
    return envelope(
        f'<{operation}Response xmlns="{YUKI_NS}"><{operation}Result>{content}'
        f"</{operation}Result></{operation}Response>"
    )


def fault(text: str, code: str = "soap:Server") -> str:
    return envelope(
        f"<soap:Fault><faultcode>{escape(code)}</faultcode>"
        f"<faultstring>{escape(text)}</faultstring><detail /></soap:Fault>"
    )


def element(name: str, value: str | None) -> str:
    """`<name>value</name>`, `<name />` when empty, nothing at all when None."""
    if value is None:
        return ""
    return f"<{name}>{escape(value)}</{name}>" if value else f"<{name} />"


def amount_text(value: Decimal, comma: bool) -> str:
    text = f"{value:.2f}"
    return text.replace(".", ",") if comma else text


def administrations(admins: Iterable[SimAdministration]) -> str:
    rows = "".join(
        f"<Administration ID={quoteattr(a.id)}>{element('Name', a.name)}"
        f"{element('DomainID', a.domain_id)}{element('Country', a.country)}"
        f"{element('Active', 'true')}</Administration>"
        for a in admins
    )
    return f"<Administrations>{rows}</Administrations>"


def item(sim_item: SimItem, *, comma: bool, overrides: dict[str, str | None] | None = None) -> str:
    """One `<Item>`; `overrides` replace a field's text (None drops the field, or the ID)."""
    contact = sim_item.contact
    fields: dict[str, str | None] = {
        "Date": sim_item.date.isoformat(),
        "Description": sim_item.description,
        "Contact": contact.name,
        "OpenAmount": amount_text(sim_item.open_amount, comma),
        "OriginalAmount": amount_text(sim_item.original_amount, comma),
        "Type": sim_item.type_name,
        "Reference": sim_item.reference,
        "DueDate": sim_item.due_date.isoformat(),
        "ContactCode": contact.code,
        "CoCNumber": "",
        "VATNumber": contact.vat_number,
        "AddressLine_1": contact.street,
        "AddressLine_2": "",
        "Postcode": contact.postcode,
        "City": contact.city,
        "Country": contact.country,
        "ContactID": contact.id,
        # The documented schema has no currency; foreign-currency items carry one here.
        "Currency": sim_item.currency if sim_item.currency != "EUR" else None,
    }
    fields.update(overrides or {})
    item_id = fields.pop("ID", sim_item.id)
    body = "".join(_field(name, value, sim_item.type_id) for name, value in fields.items())
    opening = "<Item>" if item_id is None else f"<Item ID={quoteattr(item_id)}>"
    return f"{opening}{body}</Item>"


def _field(name: str, value: str | None, type_id: str) -> str:
    if name == "Type" and value is not None:
        return f"<Type ID={quoteattr(type_id)}>{escape(value)}</Type>"
    return element(name, value)


def gl_accounts(
    accounts: Iterable[SimGLAccount],
    *,
    comma: bool,
    overrides: dict[str, dict[str, str | None]] | None = None,
) -> str:
    """The trial balance; `overrides` (by account code) replace a field's text."""
    rows = []
    for account in accounts:
        fields: dict[str, str | None] = {
            "Description": account.description,
            "Amount": amount_text(account.amount, comma),
        }
        fields.update((overrides or {}).get(account.code, {}))
        body = "".join(element(name, value) for name, value in fields.items())
        rows.append(
            f"<GLAccount Code={quoteattr(account.code)} BalanceType={quoteattr(account.balance_type)}>"
            f"{body}</GLAccount>"
        )
    return f"<GLAccountBalance>{''.join(rows)}</GLAccountBalance>"


def billion_laughs(operation: str) -> str:
    """The classic entity-expansion bomb: ten levels of ten, about 3 GB once expanded."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{"".join(f"&lol{n - 1};" for _ in range(10))}">' for n in range(1, 10)
    ]
    doctype = f"<!DOCTYPE soap:Envelope [{''.join(levels)}]>"
    body = result(operation, '<Items><Item ID="bomb"><Description>&lol9;</Description></Item></Items>')
    return body.replace(_DECLARATION, _DECLARATION + doctype, 1)


def external_entity(operation: str) -> str:
    """An XXE attempt: an entity that would read a local file into the answer."""
    doctype = '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    body = result(operation, '<Items><Item ID="xxe"><Contact>&xxe;</Contact></Item></Items>')
    return body.replace(_DECLARATION, _DECLARATION + doctype, 1)


def wrong_envelope(operation: str) -> str:
    """A well-formed answer whose root is not a SOAP envelope at all."""
    return f'{_DECLARATION}<Envelope xmlns="urn:not-soap"><Body><{operation}Result /></Body></Envelope>'
