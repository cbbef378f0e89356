"""Deterministic, believable Belgian books for the Yuki simulator: customers, invoices, ledger."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

CENT = Decimal("0.01")

_FAMILY = (
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Dupont",
    "Martin",
    "Simon",
    "Laurent",
    "Leroy",
    "Vermeulen",
    "Van den Broeck",
    "Hermans",
    "Desmet",
    "Lemmens",
    "Michiels",
    "Verhoeven",
    "Dumont",
    "Renard",
    "Lefebvre",
    "Mathieu",
    "Cools",
    "Aerts",
    "Smets",
    "Declercq",
    "Pauwels",
    "Van Damme",
    "Devos",
    "Segers",
    "Stevens",
    "Baert",
    "Verstraete",
    "Wuyts",
    "Lenaerts",
    "Thys",
    "Vandenberghe",
)
_TRADE_NL = (
    "Bouw",
    "Transport",
    "Bakkerij",
    "Schrijnwerkerij",
    "Elektro",
    "Consult",
    "Logistiek",
    "Garage",
    "Brasserie",
    "Architecten",
    "Tuinaanleg",
    "Dakwerken",
    "Installaties",
    "Drukkerij",
    "Vastgoed",
)
_TRADE_FR = (
    "Boulangerie",
    "Menuiserie",
    "Informatique",
    "Construction",
    "Traiteur",
    "Toitures",
    "Conseil",
    "Garage",
    "Imprimerie",
    "Électricité",
)
_FORMS_NL = ("BV", "NV", "CommV", "VOF")
_FORMS_FR = ("SRL", "SA", "SComm")
_US_CUSTOMERS = (
    "Hudson Valley Foods Inc",
    "Lakeside Trading LLC",
    "Redwood Analytics Inc",
    "Bayside Imports LLC",
    "Granite Peak Software Inc",
    "Prairie Logistics Corp",
    "Atlantic Coffee Roasters LLC",
)
_CITIES = (
    ("9000", "Gent"),
    ("2000", "Antwerpen"),
    ("1000", "Brussel"),
    ("3000", "Leuven"),
    ("8000", "Brugge"),
    ("4000", "Liège"),
    ("5000", "Namur"),
    ("7000", "Mons"),
    ("2800", "Mechelen"),
    ("3500", "Hasselt"),
    ("8500", "Kortrijk"),
    ("6000", "Charleroi"),
    ("1300", "Wavre"),
)
_STREETS = ("Kerkstraat", "Stationsstraat", "Rue de la Gare", "Dorpsstraat", "Industrieweg", "Rue Haute")


@dataclass
class SimContact:
    """A customer or supplier."""

    id: str
    code: str
    name: str
    vat_number: str
    street: str
    postcode: str
    city: str
    country: str = "BE"
    currency: str = "EUR"


@dataclass
class SimItem:
    """An outstanding invoice or credit note (negative amounts) as Yuki would list it."""

    id: str
    contact: SimContact
    reference: str
    description: str
    type_id: str
    type_name: str
    date: dt.date
    due_date: dt.date
    original_amount: Decimal
    open_amount: Decimal
    currency: str

    def days_overdue(self, today: dt.date) -> int:
        return max(0, (today - self.due_date).days)


@dataclass
class SimGLAccount:
    """A general-ledger account and its balance (credit balances negative)."""

    code: str
    description: str
    amount: Decimal
    balance_type: str  # B: balance sheet, W: profit and loss


@dataclass
class SimAdministration:
    """One company's books in the simulated domain."""

    id: str
    name: str
    domain_id: str
    country: str = "BE"
    customers: list[SimContact] = field(default_factory=list)
    suppliers: list[SimContact] = field(default_factory=list)
    receivables: dict[str, SimItem] = field(default_factory=dict)
    payables: dict[str, SimItem] = field(default_factory=dict)
    gl_accounts: list[SimGLAccount] = field(default_factory=list)


@dataclass(frozen=True)
class SeedSize:
    """How big an administration's books are."""

    customers: int = 300
    debtor_items: int = 3000
    suppliers: int = 60
    creditor_items: int = 600


class Seeder:
    """Builds administrations from one random seed, so every run sees the same books."""

    def __init__(self, seed: int, today: dt.date) -> None:
        self.rng = random.Random(seed)
        self.today = today

    def guid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def administration(self, name: str, domain_id: str, size: SeedSize) -> SimAdministration:
        admin = SimAdministration(id=self.guid(), name=name, domain_id=domain_id)
        admin.customers = [
            self.contact(f"C{n:04d}", foreign=n % 20 == 7) for n in range(1, size.customers + 1)
        ]
        admin.suppliers = [self.contact(f"L{n:04d}") for n in range(1, size.suppliers + 1)]
        admin.receivables = self.items(admin.customers, size.debtor_items, sales=True)
        admin.payables = self.items(admin.suppliers, size.creditor_items, sales=False)
        admin.gl_accounts = self.ledger(admin)
        return admin

    def contact(self, code: str, *, foreign: bool = False) -> SimContact:
        rng = self.rng
        if foreign:
            name = f"{rng.choice(_US_CUSTOMERS)} ({code})"
            return SimContact(self.guid(), code, name, "", "Main Street 1", "10001", "New York", "US", "USD")
        french = rng.random() < 0.35
        trade = rng.choice(_TRADE_FR if french else _TRADE_NL)
        form = rng.choice(_FORMS_FR if french else _FORMS_NL)
        family = rng.choice(_FAMILY)
        name = f"{trade} {family} {form}" if rng.random() < 0.5 else f"{family} {trade} {form}"
        postcode, city = rng.choice(_CITIES)
        street = f"{rng.choice(_STREETS)} {rng.randint(1, 240)}"
        vat = f"BE0{rng.randint(200_000_000, 999_999_999)}"
        return SimContact(self.guid(), code, name, vat, street, postcode, city)

    def items(self, contacts: list[SimContact], count: int, *, sales: bool) -> dict[str, SimItem]:
        items: dict[str, SimItem] = {}
        for sequence in range(1, count + 1):
            item = self.item(self.rng.choice(contacts), sequence, sales=sales)
            items[item.id] = item
        return items

    def item(self, contact: SimContact, sequence: int, *, sales: bool) -> SimItem:
        rng = self.rng
        # Most invoices are recent; a long tail stays open for months (the 90+ bucket).
        issued = self.today - dt.timedelta(days=min(400, int(rng.expovariate(1 / 45))))
        terms = rng.choice((30, 30, 30, 14, 60))
        credit_note = rng.random() < 0.04
        amount = Decimal(str(min(60_000.0, max(25.0, rng.lognormvariate(6.4, 1.0))))).quantize(CENT)
        if credit_note:
            amount = -min(amount, Decimal(2000))
        open_amount = amount
        if not credit_note and rng.random() < 0.08:
            open_amount = (amount * Decimal(str(rng.uniform(0.2, 0.8)))).quantize(CENT)
        prefix = ("CN" if credit_note else "VF") if sales else ("AC" if credit_note else "AF")
        reference = f"{prefix}{issued.year}-{sequence:05d}"
        kind = _item_type(sales, credit_note)
        return SimItem(
            id=self.guid(),
            contact=contact,
            reference=reference,
            description=f"{kind[1]} {reference}",
            type_id=kind[0],
            type_name=kind[1],
            date=issued,
            due_date=issued + dt.timedelta(days=terms),
            original_amount=amount,
            open_amount=open_amount,
            currency=contact.currency,
        )

    def ledger(self, admin: SimAdministration) -> list[SimGLAccount]:
        rng = self.rng

        def money(low: int, high: int) -> Decimal:
            return Decimal(rng.randint(low * 100, high * 100)) / 100

        receivable = sum(
            (i.open_amount for i in admin.receivables.values() if i.currency == "EUR"), Decimal(0)
        )
        payable = sum((i.open_amount for i in admin.payables.values()), Decimal(0))
        return [
            SimGLAccount("400000", "Handelsdebiteuren", receivable, "B"),
            SimGLAccount("440000", "Leveranciers", -payable, "B"),
            SimGLAccount("451000", "Te betalen btw", -money(5_000, 30_000), "B"),
            SimGLAccount("499000", "Wachtrekening", money(0, 900), "B"),
            SimGLAccount("550000", "KBC Zichtrekening", money(40_000, 180_000), "B"),
            SimGLAccount("550100", "Belfius Zichtrekening", money(5_000, 60_000), "B"),
            SimGLAccount("551000", "ING Spaarrekening", money(20_000, 120_000), "B"),
            SimGLAccount("570000", "Kas", money(100, 2_500), "B"),
            SimGLAccount("604000", "Aankopen handelsgoederen", money(50_000, 400_000), "W"),
            SimGLAccount("612000", "Huur", money(10_000, 40_000), "W"),
            SimGLAccount("700000", "Omzet", -money(150_000, 900_000), "W"),
        ]


def _item_type(sales: bool, credit_note: bool) -> tuple[str, str]:
    if sales:
        return ("2", "Creditnota") if credit_note else ("1", "Verkoopfactuur")
    return ("4", "Creditnota inkoop") if credit_note else ("3", "Inkoopfactuur")
