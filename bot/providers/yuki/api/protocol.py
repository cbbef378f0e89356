"""Yuki's SOAP dialect: services, operations, parameter spelling, envelopes and SOAPAction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

YUKI_NS = "http://www.theyukicompany.com/"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NAMESPACES = frozenset({SOAP11_NS, SOAP12_NS})
CONTENT_TYPE = "text/xml; charset=utf-8"

# XML 1.0 allows tab, newline, carriage return and everything from U+0020 except surrogates
# and U+FFFE/U+FFFF; anything else cannot be sent at all.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Service:
    """One `.asmx` endpoint and how it spells the session and administration parameters.

    Accounting, AccountingInfo, Contact and Archive say `sessionID`/`administrationID`;
    Sales, Purchase and Integration say `sessionId`/`administrationId` (yuki.md §3).
    """

    name: str
    session_param: str = "sessionID"
    administration_param: str = "administrationID"

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.name}.asmx"


ACCOUNTING = Service("Accounting")
ACCOUNTING_INFO = Service("AccountingInfo")
SALES = Service("Sales", "sessionId", "administrationId")
PURCHASE = Service("Purchase", "sessionId", "administrationId")
INTEGRATION = Service("Integration", "sessionId", "administrationId")


@dataclass(frozen=True)
class Operation:
    """A SOAP operation on a service; `record` is the repeated element its answer carries."""

    name: str
    service: Service
    record: str | None = None

    @property
    def soap_action(self) -> str:
        # ASMX compares the quoted form; the quotes are part of the header value.
        return f'"{YUKI_NS}{self.name}"'


AUTHENTICATE = Operation("Authenticate", ACCOUNTING)
ADMINISTRATIONS = Operation("Administrations", ACCOUNTING, record="Administration")
OUTSTANDING_DEBTOR_ITEMS = Operation("OutstandingDebtorItems", ACCOUNTING, record="Item")
OUTSTANDING_CREDITOR_ITEMS = Operation("OutstandingCreditorItems", ACCOUNTING, record="Item")
GL_ACCOUNT_BALANCE = Operation("GLAccountBalance", ACCOUNTING, record="GLAccount")

SORT_ORDERS = frozenset({"ContactAsc", "ContactDesc", "AmountAsc", "AmountDesc", "DateAsc", "DateDesc"})


def is_xml_safe(value: str) -> bool:
    """True when the text can travel inside an XML element as it is."""
    return _NOT_XML.search(value) is None


def envelope(operation: Operation, params: Sequence[tuple[str, str]]) -> bytes:
    """A SOAP 1.1 request body for `operation` with the parameters in the order given."""
    body = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in params)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body>'
        f'<{operation.name} xmlns="{YUKI_NS}">{body}</{operation.name}>'
        "</soap:Body></soap:Envelope>"
    ).encode()
