"""Typed Ponto resources, read from JSON:API resources against a schema of known attributes.

An attribute of the wrong type, a missing required one, or (in strict mode, the default) an
attribute this client does not know raises MalformedResponse: a changed API is noticed, not
silently half-read.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

import httpx
import msgspec

from bot.providers.ponto.api.errors import malformed
from bot.providers.ponto.api.jsonapi import Document, Resource, parse_embedded, related_id

UnknownAttributes = Literal["error", "ignore"]
T = TypeVar("T")

MAX_TEXT = 10_000
MAX_AMOUNT = Decimal(10) ** 13  # far above any bank balance, far below the storage limit
AMOUNT_STEP = Decimal("0.0001")  # what storage keeps exactly


# ---- attribute converters: each returns the value or raises ValueError ---------------------------
def text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a string")
    if len(value) > MAX_TEXT:
        raise ValueError("text too long")
    return value


def number(value: Any) -> Decimal | None:
    if value is None:
        return None
    kind = type(value)  # exact types: bool is an int, and JSON numbers arrive as int or Decimal
    if kind is int:
        value = Decimal(value)
    elif kind is not Decimal:
        raise ValueError("not a number")
    if not value.is_finite() or not -MAX_AMOUNT < value < MAX_AMOUNT:
        raise ValueError("number out of range")
    if value != value.quantize(AMOUNT_STEP):
        raise ValueError("more than 4 decimals")
    return value  # type: ignore[no-any-return]


def currency(value: Any) -> str | None:
    code = text(value)
    if code is not None and not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
        raise ValueError("not an ISO 4217 code")
    return code


def moment(value: Any) -> dt.datetime | None:
    """ISO 8601 to an aware UTC datetime; a bare date or a naive time is taken as UTC."""
    raw = text(value)
    if raw is None:
        return None
    parsed = dt.datetime.fromisoformat(raw)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def flag(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError("not a boolean")


def anything(value: Any) -> Any:
    return value


Converter = Callable[[Any], Any]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: schemas are module constants
class Schema:
    """The attributes a resource type may carry, and which of them must be present."""

    type: str
    attributes: Mapping[str, Converter]
    required: frozenset[str] = frozenset()

    @functools.cached_property
    def names(self) -> frozenset[str]:
        return frozenset(self.attributes)

    @functools.lru_cache(maxsize=8)  # noqa: B019 - a handful of module-level schemas, kept for good
    def pick(self, names: tuple[str, ...]) -> tuple[tuple[str, Converter], ...]:
        return tuple((name, self.attributes[name]) for name in names)


class Reader:
    """Reads resources of one response against schemas; knows how strict to be."""

    def __init__(self, response: httpx.Response, unknown_attributes: UnknownAttributes = "error") -> None:
        self.response = response
        self.unknown_attributes = unknown_attributes

    def check(self, resource: Resource, schema: Schema) -> None:
        """Refuse an unknown attribute (in strict mode) or a missing required one."""
        keys = resource.attributes.keys()
        if self.unknown_attributes == "error" and not keys <= schema.names:
            unknown = sorted(keys - schema.names)[0]
            raise malformed(self.response, f"{schema.type} {resource.id}: unknown attribute {unknown[:60]!r}")
        if not schema.required <= keys:
            missing = sorted(schema.required - keys)[0]
            raise malformed(self.response, f"{schema.type} {resource.id}: attribute {missing!r} is missing")

    def attributes(self, resource: Resource, schema: Schema, names: tuple[str, ...]) -> dict[str, Any]:
        """The converted values of `names` (all in the schema); checks the rest of the resource."""
        self.check(resource, schema)
        attrs = resource.attributes
        pairs = schema.pick(names)
        try:
            return {name: convert(attrs.get(name)) for name, convert in pairs}
        except ValueError:
            pass
        for name, convert in pairs:  # find which one, for the message
            try:
                convert(attrs.get(name))
            except ValueError as error:
                raise malformed(self.response, f"{schema.type} {resource.id}: {name} {error}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def value(self, resource: Resource, where: str, convert: Converter, raw: Any) -> Any:
        try:
            return convert(raw)
        except ValueError as error:
            raise malformed(self.response, f"{resource.type} {resource.id}: {where} {error}") from None


# ---- schemas (attribute names from the Ibanity SDKs, see reference/ponto.md §3) ------------------
ACCOUNT = Schema(
    "account",
    {
        "currentBalance": number,
        "currentBalanceChangedAt": moment,
        "currentBalanceReferenceDate": moment,
        "currentBalanceVariationObservedAt": moment,
        "availableBalance": number,
        "availableBalanceChangedAt": moment,
        "availableBalanceReferenceDate": moment,
        "availableBalanceVariationObservedAt": moment,
        "currency": currency,
        "reference": text,
        "referenceType": text,
        "subtype": text,
        "description": text,
        "product": text,
        "holderName": text,
        "internalReference": text,
        "deprecated": flag,
        "authorizedAt": moment,
        "authorizationExpirationExpectedAt": moment,
    },
    frozenset({"currentBalance", "currency"}),
)

TRANSACTION = Schema(
    "transaction",
    {
        "amount": number,
        "currency": currency,
        "valueDate": moment,
        "executionDate": moment,
        "description": text,
        "remittanceInformation": text,
        "remittanceInformationType": text,
        "counterpartName": text,
        "counterpartReference": text,
        "bankTransactionCode": text,
        "proprietaryBankTransactionCode": text,
        "purposeCode": text,
        "endToEndId": text,
        "mandateId": text,
        "creditorId": text,
        "additionalInformation": text,
        "cardReference": text,
        "cardReferenceType": text,
        "fee": number,
        "internalReference": text,
        "digest": text,
        "createdAt": moment,
        "updatedAt": moment,
    },
    frozenset({"amount", "currency", "executionDate"}),
)

SYNCHRONIZATION = Schema(
    "synchronization",
    {
        "resourceType": text,
        "resourceId": text,
        "subtype": text,
        "customerIpAddress": text,
        "status": text,
        "errors": anything,
        "customerOnline": flag,
        "createdAt": moment,
        "updatedAt": moment,
    },
    frozenset({"status"}),
)

_FI_TEXTS = [
    "name",
    "bic",
    "country",
    "status",
    "logoUrl",
    "primaryColor",
    "secondaryColor",
    "sharedBrandName",
    "sharedBrandReference",
    "timeZone",
    "maintenanceType",
]
_FI_FLAGS = [
    "deprecated",
    "paymentsEnabled",
    "bulkPaymentsEnabled",
    "periodicPaymentsEnabled",
    "futureDatedPaymentsAllowed",
]
_FI_LISTS = ["paymentsProductTypes", "bulkPaymentsProductTypes", "periodicPaymentsProductTypes"]

FINANCIAL_INSTITUTION = Schema(
    "financialInstitution",
    {
        **dict.fromkeys(_FI_TEXTS, text),
        **dict.fromkeys(_FI_FLAGS, flag),
        **dict.fromkeys(_FI_LISTS, anything),
        "maintenanceFrom": moment,
        "maintenanceTo": moment,
    },
    frozenset({"name"}),
)


# ---- models ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SyncProblem:
    """One entry of a synchronization's `errors`."""

    code: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class Synchronization:
    """A synchronization Ponto ran (or is running) with the bank."""

    id: str
    status: str
    subtype: str | None
    resource_id: str | None
    errors: tuple[SyncProblem, ...]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    updated_transactions_url: str | None = None
    """`relationships.updatedTransactions.links.related` (a string, or `{"href": …}`), when given."""

    @property
    def finished(self) -> bool:
        return self.status in ("success", "error")


@dataclass(frozen=True, slots=True)
class Account:
    """A bank account the organisation shared with this integration."""

    id: str
    currency: str
    current_balance: Decimal
    available_balance: Decimal | None
    reference: str | None
    reference_type: str | None
    description: str | None
    holder_name: str | None
    product: str | None
    subtype: str | None
    balance_reference_at: dt.datetime | None
    authorized_at: dt.datetime | None
    authorization_expires_at: dt.datetime | None
    deprecated: bool
    synchronized_at: dt.datetime | None
    availability: str | None
    latest_synchronization: Synchronization | None
    financial_institution_id: str | None


class Transaction(msgspec.Struct, frozen=True):
    """A booked transaction (amount signed: negative is money out).

    A msgspec Struct rather than a frozen dataclass: a large sync builds 100,000 of them, and a
    frozen dataclass's __init__ costs ten times more.
    """

    id: str
    amount: Decimal
    currency: str
    execution_date: dt.datetime
    value_date: dt.datetime | None
    counterpart_name: str | None
    counterpart_reference: str | None
    description: str | None
    remittance_information: str | None
    remittance_information_type: str | None
    bank_transaction_code: str | None
    end_to_end_id: str | None


@dataclass(frozen=True, slots=True)
class FinancialInstitution:
    """A bank."""

    id: str
    name: str
    bic: str | None
    country: str | None


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The organisation behind a user token (`/userinfo`, plain JSON)."""

    organization_id: str
    name: str | None
    onboarding_complete: bool | None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a collection and the URL of the next (older) one."""

    items: list[T]
    next_url: str | None
    synchronized_at: dt.datetime | None = None


# ---- readers --------------------------------------------------------------------------------------
_ACCOUNT_FIELDS = (
    "currentBalance",
    "availableBalance",
    "currency",
    "reference",
    "referenceType",
    "description",
    "holderName",
    "product",
    "subtype",
    "currentBalanceReferenceDate",
    "authorizedAt",
    "authorizationExpirationExpectedAt",
    "deprecated",
)


def read_account(reader: Reader, resource: Resource) -> Account:
    a = reader.attributes(resource, ACCOUNT, _ACCOUNT_FIELDS)
    meta = resource.meta
    latest_raw = meta.get("latestSynchronization")
    latest = (
        read_synchronization(reader, parse_embedded(reader.response, latest_raw, "synchronization"))
        if latest_raw is not None
        else None
    )
    return Account(
        id=resource.id,
        currency=a["currency"],
        current_balance=a["currentBalance"],
        available_balance=a["availableBalance"],
        reference=a["reference"],
        reference_type=a["referenceType"],
        description=a["description"],
        holder_name=a["holderName"],
        product=a["product"],
        subtype=a["subtype"],
        balance_reference_at=a["currentBalanceReferenceDate"],
        authorized_at=a["authorizedAt"],
        authorization_expires_at=a["authorizationExpirationExpectedAt"],
        deprecated=bool(a["deprecated"]),
        synchronized_at=reader.value(resource, "meta.synchronizedAt", moment, meta.get("synchronizedAt")),
        availability=reader.value(resource, "meta.availability", text, meta.get("availability")),
        latest_synchronization=latest,
        financial_institution_id=related_id(resource, "financialInstitution"),
    )


_TRANSACTION_FIELDS = (
    "amount",
    "currency",
    "executionDate",
    "valueDate",
    "counterpartName",
    "counterpartReference",
    "description",
    "remittanceInformation",
    "remittanceInformationType",
    "bankTransactionCode",
    "endToEndId",
)


def read_transaction(reader: Reader, resource: Resource) -> Transaction:
    # The hot path of a sync (100,000 of these): converted straight into the model.
    reader.check(resource, TRANSACTION)
    a = resource.attributes
    get = a.get
    try:
        transaction = Transaction(
            resource.id,
            number(a["amount"]),  # type: ignore[arg-type]  # None is refused below
            currency(a["currency"]),  # type: ignore[arg-type]
            moment(a["executionDate"]),  # type: ignore[arg-type]
            moment(get("valueDate")),
            text(get("counterpartName")),
            text(get("counterpartReference")),
            text(get("description")),
            text(get("remittanceInformation")),
            text(get("remittanceInformationType")),
            text(get("bankTransactionCode")),
            text(get("endToEndId")),
        )
    except ValueError:
        reader.attributes(resource, TRANSACTION, _TRANSACTION_FIELDS)  # raises, naming the attribute
        raise
    if transaction.amount is None or transaction.currency is None or transaction.execution_date is None:
        raise malformed(reader.response, f"transaction {resource.id}: amount, currency or date is null")
    return transaction


def read_synchronization(reader: Reader, resource: Resource) -> Synchronization:
    a = reader.attributes(
        resource, SYNCHRONIZATION, ("status", "subtype", "resourceId", "errors", "createdAt", "updatedAt")
    )
    return Synchronization(
        resource.id,
        a["status"] or "",
        a["subtype"],
        a["resourceId"],
        _sync_problems(reader, resource, a["errors"]),
        a["createdAt"],
        a["updatedAt"],
        related_link(resource.relationships, "updatedTransactions"),
    )


def related_link(relationships: Any, name: str) -> str | None:
    """The related link of a relationship; both shapes the reference leaves open are accepted."""
    relation = relationships.get(name) if isinstance(relationships, Mapping) else None
    links = relation.get("links") if isinstance(relation, Mapping) else None
    related = links.get("related") if isinstance(links, Mapping) else None
    if isinstance(related, Mapping):
        related = related.get("href")
    return related if isinstance(related, str) and related else None


def _sync_problems(reader: Reader, resource: Resource, raw: Any) -> tuple[SyncProblem, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise malformed(reader.response, f"synchronization {resource.id}: errors is not a list of objects")
    return tuple(
        SyncProblem(str(e.get("code") or "unknown")[:64], (text(e.get("detail")) or None)) for e in raw
    )


def read_financial_institution(reader: Reader, resource: Resource) -> FinancialInstitution:
    a = reader.attributes(resource, FINANCIAL_INSTITUTION, ("name", "bic", "country"))
    if not a["name"]:
        raise malformed(reader.response, f"financialInstitution {resource.id}: no name")
    return FinancialInstitution(resource.id, a["name"], a["bic"], a["country"])


def read_page(reader: Reader, document: Document, read: Callable[[Reader, Resource], T]) -> Page[T]:
    items = [read(reader, resource) for resource in document.many()]
    synced = reader.value(
        Resource("collection", "-", {}, {}, {}),
        "meta.synchronizedAt",
        moment,
        document.meta.get("synchronizedAt"),
    )
    return Page(items, document.link("next"), synced)


def read_userinfo(response: httpx.Response, body: Any) -> UserInfo:
    if not isinstance(body, dict):
        raise malformed(response, "userinfo is not an object")
    sub, name, onboarded = body.get("sub"), body.get("name"), body.get("onboardingComplete")
    if not isinstance(sub, str) or not sub:
        raise malformed(response, "userinfo has no organisation id (sub)")
    if name is not None and not isinstance(name, str):
        raise malformed(response, "userinfo name is not a string")
    if onboarded is not None and not isinstance(onboarded, bool):
        raise malformed(response, "userinfo onboardingComplete is not a boolean")
    return UserInfo(sub, (name or None) and name[:255], onboarded)
