"""Believable, deterministic Belgian bank data for the Ponto simulator.

Five accounts at four banks (four EUR, one USD), each with a history of customer receipts,
supplier payments, salaries, social security, VAT, card payments and bank costs. The same seed
gives the same ids, amounts and counterparties; dates count back from an anchor day (today by
default). Balances are the opening balance plus every transaction, so tests can recompute them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class SimBank:
    """A financial institution."""

    id: str
    name: str
    bic: str
    bank_code: str  # the first three BBAN digits of its Belgian IBANs


@dataclass
class SimTransaction:
    """A booked transaction as the simulator serves it."""

    id: str
    amount: Decimal
    currency: str
    execution_date: dt.datetime
    value_date: dt.datetime
    counterpart_name: str
    counterpart_reference: str | None
    description: str
    remittance_information: str
    remittance_information_type: str
    bank_transaction_code: str
    end_to_end_id: str | None
    _json: str | None = field(default=None, repr=False)

    def attributes(self) -> dict[str, object]:
        return {
            "amount": float(self.amount),  # two decimals: the float's shortest repr is exact
            "currency": self.currency,
            "executionDate": _iso(self.execution_date),
            "valueDate": _iso(self.value_date),
            "counterpartName": self.counterpart_name,
            "counterpartReference": self.counterpart_reference,
            "description": self.description,
            "remittanceInformation": self.remittance_information,
            "remittanceInformationType": self.remittance_information_type,
            "bankTransactionCode": self.bank_transaction_code,
            "endToEndId": self.end_to_end_id,
            "internalReference": self.id[:8],
        }

    def json_fragment(self, account_id: str) -> str:
        """The resource object as JSON text, cached (serving 100,000 of them must be cheap)."""
        if self._json is None:
            self._json = json.dumps(
                {
                    "type": "transaction",
                    "id": self.id,
                    "attributes": self.attributes(),
                    "relationships": {"account": {"data": {"type": "account", "id": account_id}}},
                }
            )
        return self._json


@dataclass
class SimAccount:
    """An account with its transactions (oldest first) and Ponto's view of its freshness."""

    id: str
    bank: SimBank
    iban: str
    currency: str
    description: str
    product: str
    subtype: str
    holder_name: str
    opening_balance: Decimal
    transactions: list[SimTransaction]
    synchronized_at: dt.datetime
    authorized_at: dt.datetime
    authorization_expires_at: dt.datetime
    index: dict[str, int] = field(default_factory=dict)
    balance: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.index = {t.id: position for position, t in enumerate(self.transactions)}
        self.balance = self.opening_balance + sum((t.amount for t in self.transactions), Decimal(0))

    def newest_first(self) -> list[SimTransaction]:
        return self.transactions[::-1]


BANKS = (
    SimBank("3f2c6d1e-0b5a-4c8e-9a71-5d2b8e4f1a01", "KBC Bank", "KREDBEBB", "734"),
    SimBank("3f2c6d1e-0b5a-4c8e-9a71-5d2b8e4f1a02", "BNP Paribas Fortis", "GEBABEBB", "001"),
    SimBank("3f2c6d1e-0b5a-4c8e-9a71-5d2b8e4f1a03", "Belfius Bank", "GKCCBEBB", "068"),
    SimBank("3f2c6d1e-0b5a-4c8e-9a71-5d2b8e4f1a04", "ING België", "BBRUBEBB", "363"),
)

# (bank index, currency, description, product, subtype, share of the transactions)
ACCOUNT_PLAN = (
    (0, "EUR", "Zichtrekening", "KBC Business Comfortrekening", "checking", 0.40),
    (1, "EUR", "Compte courant", "Business Start", "checking", 0.25),
    (2, "EUR", "Spaarrekening", "Belfius Business Spaarrekening", "savings", 0.05),
    (3, "EUR", "Zichtrekening ING", "ING Business Account", "checking", 0.20),
    (0, "USD", "USD account", "KBC Multi-currency Account", "checking", 0.10),
)

HOLDER = "Cashbot Demo BV"
CUSTOMERS = (
    "Brouwerij De Klok BV",
    "Bakkerij Peeters",
    "Atelier Dubois SRL",
    "Van den Bossche & Zonen NV",
    "Transport Janssens BV",
    "Maison Lambert SA",
    "Drukkerij Vermeulen",
    "Garage Mertens BV",
    "Hotel Ter Duinen NV",
    "Architectenbureau Wouters",
    "Fiduciaire Leclercq SRL",
    "Schrijnwerkerij Goossens",
)
SUPPLIERS = (
    "Koffiebranderij Aroma BV",
    "IT-Partners Gent BV",
    "Schoonmaak Proper BV",
    "Electro Vandamme",
    "Verzekeringen Noord NV",
    "Papeterie Renard SRL",
    "Vastgoed Brabant NV",
)
SHOPS = ("Buurtsuper Centrum", "Tankstation De Ring", "Restaurant 't Hoekske", "Parking Kouter")
US_CUSTOMERS = ("Northwind Traders LLC", "Acme Widgets Inc.", "Blue Harbor Analytics Inc.")
US_SUPPLIERS = ("Cloudhost Inc.", "Dev Tools LLC", "Design Seats Inc.")


def belgian_iban(bank_code: str, rng: random.Random) -> str:
    """A Belgian IBAN with valid national (mod 97) and IBAN check digits."""
    first10 = bank_code + f"{rng.randrange(10**7):07d}"
    national = int(first10) % 97 or 97
    bban = f"{first10}{national:02d}"
    check = 98 - int(bban + "111400") % 97  # "BE00" rearranged: B=11, E=14
    return f"BE{check:02d}{bban}"


def structured_communication(rng: random.Random) -> str:
    """A Belgian structured communication +++123/4567/89002+++ (10 digits and a mod-97 check)."""
    base = rng.randrange(10**9, 10**10)
    check = base % 97 or 97
    digits = f"{base:010d}{check:02d}"
    return f"+++{digits[:3]}/{digits[3:7]}/{digits[7:]}+++"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low * 100, high * 100)) / 100


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Generator:
    """Draws one account's transactions from a seeded random source."""

    def __init__(self, rng: random.Random, currency: str, subtype: str) -> None:
        self.rng = rng
        self.currency = currency
        self.subtype = subtype
        self.ibans = {
            name: belgian_iban(BANKS[i % 4].bank_code, rng) for i, name in enumerate(CUSTOMERS + SUPPLIERS)
        }

    def draw(self, day: dt.datetime) -> SimTransaction:
        if self.currency == "USD":
            kind = self.rng.choice(("us_in", "us_out", "us_out"))
        elif self.subtype == "savings":
            kind = self.rng.choice(("to_savings", "to_savings", "from_savings", "interest"))
        else:
            kind = self.rng.choices(
                ("customer", "supplier", "salary", "rsz", "vat", "card", "fee"), (30, 25, 10, 4, 3, 24, 4)
            )[0]
        amount, name, reference, description, remittance, structured = getattr(self, "_" + kind)()
        booked = day + dt.timedelta(hours=self.rng.randrange(7, 19), minutes=self.rng.randrange(60))
        return SimTransaction(
            id=_uuid(self.rng),
            amount=amount,
            currency=self.currency,
            execution_date=booked,
            value_date=day,
            counterpart_name=name,
            counterpart_reference=reference,
            description=description,
            remittance_information=remittance,
            remittance_information_type="structured" if structured else "unstructured",
            bank_transaction_code="PMNT-RCDT-ESCT" if amount > 0 else "PMNT-ICDT-ESCT",
            end_to_end_id=f"E2E{self.rng.getrandbits(48):012X}" if self.rng.random() < 0.6 else None,
        )

    Parts = tuple[Decimal, str, str | None, str, str, bool]

    def _customer(self) -> Parts:
        name = self.rng.choice(CUSTOMERS)
        return (
            _money(self.rng, 200, 12_000),
            name,
            self.ibans[name],
            "Overschrijving",
            structured_communication(self.rng),
            True,
        )

    def _supplier(self) -> Parts:
        name = self.rng.choice(SUPPLIERS)
        invoice = f"Factuur {self.rng.randrange(2023, 2026)}-{self.rng.randrange(1, 9999):04d}"
        return -_money(self.rng, 40, 6_000), name, self.ibans[name], "Overschrijving", invoice, False

    def _salary(self) -> Parts:
        iban = belgian_iban(self.rng.choice(BANKS).bank_code, self.rng)
        person = self.rng.choice(
            ("A. Peeters", "L. Dubois", "S. Maes", "J. Claes", "E. Jacobs", "N. Willems")
        )
        return -_money(self.rng, 2_300, 4_600), person, iban, "Loon", "Loon en vergoedingen", False

    def _rsz(self) -> Parts:
        return (
            -_money(self.rng, 1_500, 9_000),
            "RSZ - ONSS",
            "BE63679200229908",
            "Sociale bijdragen",
            structured_communication(self.rng),
            True,
        )

    def _vat(self) -> Parts:
        return (
            -_money(self.rng, 800, 12_000),
            "FOD Financiën - BTW",
            "BE39679200300819",
            "Btw-betaling",
            structured_communication(self.rng),
            True,
        )

    def _card(self) -> Parts:
        shop = self.rng.choice(SHOPS)
        return (
            -_money(self.rng, 3, 180),
            shop,
            None,
            "Betaling met Bancontact",
            f"{shop} {self.rng.randrange(10**6)}",
            False,
        )

    def _fee(self) -> Parts:
        return -_money(self.rng, 2, 30), "Bank", None, "Kosten rekening", "Beheerskosten", False

    def _to_savings(self) -> Parts:
        return _money(self.rng, 500, 5_000), HOLDER, None, "Eigen rekening", "Reserve", False

    def _from_savings(self) -> Parts:
        return -_money(self.rng, 500, 6_000), HOLDER, None, "Eigen rekening", "Terugboeking reserve", False

    def _interest(self) -> Parts:
        return _money(self.rng, 1, 90), "Bank", None, "Rente", "Basisrente en getrouwheidspremie", False

    def _us_in(self) -> Parts:
        name = self.rng.choice(US_CUSTOMERS)
        return (
            _money(self.rng, 400, 4_000),
            name,
            None,
            "Incoming wire",
            f"INV-{self.rng.randrange(10**5):05d}",
            False,
        )

    def _us_out(self) -> Parts:
        name = self.rng.choice(US_SUPPLIERS)
        return (
            -_money(self.rng, 20, 2_500),
            name,
            None,
            "Card / wire",
            f"Subscription {self.rng.randrange(10**4)}",
            False,
        )


def split_counts(total: int, shares: Sequence[float]) -> list[int]:
    """`total` spread over accounts by share, exact (the remainder goes to the first account)."""
    counts = [int(total * share) for share in shares]
    counts[0] += total - sum(counts)
    return counts


def seed_accounts(
    transactions: int | Sequence[int] = 3000,
    *,
    seed: int = 7,
    anchor: dt.datetime,
    history_days: int = 730,
) -> list[SimAccount]:
    """The seeded accounts; `transactions` is a total (spread by plan) or a count per account."""
    rng = random.Random(seed)
    today = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
    counts = (
        split_counts(transactions, [plan[5] for plan in ACCOUNT_PLAN])
        if isinstance(transactions, int)
        else list(transactions)
    )
    return [
        _account(rng, plan, count, today, history_days)
        for plan, count in zip(ACCOUNT_PLAN, counts, strict=True)
    ]


def _account(
    rng: random.Random, plan: tuple[int, str, str, str, str, float], count: int, today: dt.datetime, days: int
) -> SimAccount:
    bank_index, currency, description, product, subtype, _ = plan
    bank = BANKS[bank_index]
    account_id, iban = _uuid(rng), belgian_iban(bank.bank_code, rng)
    generator = _Generator(rng, currency, subtype)
    dates = sorted(today - dt.timedelta(days=rng.randrange(1, days + 1)) for _ in range(count))
    transactions = [generator.draw(day) for day in dates]
    transactions.sort(key=lambda t: t.execution_date)
    lowest, running = Decimal(0), Decimal(0)
    for transaction in transactions:
        running += transaction.amount
        lowest = min(lowest, running)
    opening = _money(rng, 5_000, 60_000) - lowest
    return SimAccount(
        id=account_id,
        bank=bank,
        iban=iban,
        currency=currency,
        description=description,
        product=product,
        subtype=subtype,
        holder_name=HOLDER,
        opening_balance=opening,
        transactions=transactions,
        synchronized_at=today + dt.timedelta(hours=2),
        authorized_at=today - dt.timedelta(days=rng.randrange(10, 60)),
        authorization_expires_at=today + dt.timedelta(days=rng.randrange(40, 170)),
    )


def new_transactions(account: SimAccount, count: int, *, seed: int, at: dt.datetime) -> list[SimTransaction]:
    """`count` more transactions for an account, booked at `at` (newer than anything before)."""
    rng = random.Random(f"{seed}:{account.id}:{len(account.transactions)}")
    generator = _Generator(rng, account.currency, account.subtype)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    added = []
    for offset in range(count):
        transaction = generator.draw(day)
        transaction.execution_date = at + dt.timedelta(seconds=offset)
        added.append(transaction)
    return added
