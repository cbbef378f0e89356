"""A Yuki SOAP web-services simulator: SOAP 1.1 on loopback, seeded Belgian books, fault switches.

It speaks `/ws/{Service}.asmx` like Yuki's ASMX services: the SOAPAction header must name the
operation, parameters are case-sensitive (`sessionID`), faults come back as HTTP 500. Switches
(`fail`) make it answer with a bad key, an expired session, the daily limit, a 500, slowly, with
malformed XML or an XML bomb. Tests drive it in-process (`YukiSimulator`), other processes
through `/_sim/*`. The seeded books are exposed so expected figures can be computed
independently of cashbot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bot.clock import Clock, SystemClock
from bot.sandbox import yuki_xml as answers
from bot.sandbox.yuki_seed import Seeder, SeedSize, SimAdministration, SimItem

SANDBOX_KEY = "5f0c3e7a-9d1b-4c2e-8a6f-1b2c3d4e5f60"
"""Domain-level key: both administrations, Accounting rights. The demo and tests use it."""
NO_RIGHTS_KEY = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
"""A key that authenticates but has no rights on the Accounting web service."""
SINGLE_ADMIN_KEY = "7e6d5c4b-3a29-4f18-9e07-d6c5b4a39281"
"""An administration-level key: only the main administration."""

YUKI_ZONE = ZoneInfo("Europe/Amsterdam")  # Yuki keeps Dutch days: "today" for due dates and ledgers

SESSION_SECONDS = 24 * 3600
FAULT_MODES = frozenset(
    {
        "invalid_key",
        "expired_session",
        "daily_limit",
        "no_rights",
        "server_fault",
        "http_500",
        "slow",
        "malformed",
        "xml_bomb",
        "xxe",
        "wrong_envelope",
        "unknown_records",  # the answer's records are <Row>, not <Item>
        "unknown_flood",  # `flood_bytes` (60 MB) of unknown elements, streamed
    }
)
FLOOD_BYTES = 60 * 1024 * 1024
TEXTS = {
    "invalid_key": "Authentication failed: the web service access key is not valid.",
    "expired_session": "The session is not valid or has expired. Please authenticate again.",
    "daily_limit": "The maximum number of web service calls for this domain today has been reached "
    "(daily limit exceeded).",
    "no_rights": "You have no rights for the web service Accounting.",
    "no_admin": "You have no rights for this administration.",
    "server_fault": "Server was unable to process request. ---> Object reference not set to an "
    "instance of an object.",
}
ACCOUNTING_OPERATIONS = frozenset({"OutstandingDebtorItems", "OutstandingCreditorItems", "GLAccountBalance"})
GENERAL_OPERATIONS = frozenset({"Authenticate", "Administrations"})


@dataclass
class SimKey:
    """A web-service access key: its domain, the administrations and services it reaches."""

    key: str
    domain_id: str
    administration_ids: list[str]
    services: frozenset[str] = frozenset({"Accounting", "AccountingInfo"})


@dataclass
class SimSession:
    key: SimKey
    started: float


@dataclass
class SimCall:
    """One request the simulator received (never the key or session id)."""

    service: str
    operation: str
    outcome: str


@dataclass
class SimFault:
    """A programmed failure for the next `times` calls (of one operation, or any)."""

    mode: str
    times: int = 1
    seconds: float = 5.0
    operation: str | None = None


class YukiSimulator:
    """State and behaviour of the simulated Yuki; `app` is its ASGI application."""

    def __init__(
        self,
        *,
        seed: int = 4,
        size: SeedSize | None = None,
        today: dt.date | None = None,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.seed = seed
        self.size = size or SeedSize()
        self._clock = clock or SystemClock()
        self.today = today or self._clock.now().astimezone(YUKI_ZONE).date()
        self._sleep = sleep
        self.calls: list[SimCall] = []
        self.flood_bytes = FLOOD_BYTES
        self._rename_records = False
        self.base_url = ""  # set once served
        self.app = self._build_app()
        self.reseed()

    def _epoch(self) -> float:
        return self._clock.now().timestamp()

    @property
    def api_url(self) -> str:
        """What YUKI_API_URL should be: the base of the `.asmx` services."""
        return self.base_url + "/ws"

    # ---- the seeded books ---------------------------------------------------------------------
    def reseed(self) -> None:
        """Back to the seeded books; sessions, faults, calls and switches cleared."""
        seeder = Seeder(self.seed, self.today)
        self.domain_id = seeder.guid()
        main = seeder.administration("Vandenbroucke Catering BV", self.domain_id, self.size)
        small = seeder.administration("Vandenbroucke Vastgoed BV", self.domain_id, SeedSize(12, 30, 6, 12))
        self.administrations: dict[str, SimAdministration] = {main.id: main, small.id: small}
        self.main = main
        self.keys = {
            SANDBOX_KEY: SimKey(SANDBOX_KEY, self.domain_id, [main.id, small.id]),
            NO_RIGHTS_KEY: SimKey(NO_RIGHTS_KEY, self.domain_id, [main.id], frozenset({"Archive"})),
            SINGLE_ADMIN_KEY: SimKey(SINGLE_ADMIN_KEY, self.domain_id, [main.id]),
        }
        self.sessions: dict[str, SimSession] = {}
        self.faults: list[SimFault] = []
        self.overrides: dict[str, dict[str, str | None]] = {}
        self.calls.clear()
        self.counted: dict[str, int] = {}  # calls per domain, against `daily_limit`
        self.daily_limit = 1000
        self.shape = "embedded"  # the items under an embedded root, "bare", or "escaped" text
        self.comma_decimals = False

    def receivables(self, administration_id: str | None = None) -> list[SimItem]:
        """The open receivables as Yuki would list them now."""
        return list(self._admin(administration_id).receivables.values())

    def payables(self, administration_id: str | None = None) -> list[SimItem]:
        return list(self._admin(administration_id).payables.values())

    def pay(self, item_id: str) -> SimItem:
        """The invoice is settled in full: it leaves the outstanding lists."""
        for admin in self.administrations.values():
            for book in (admin.receivables, admin.payables):
                if item_id in book:
                    return book.pop(item_id)
        raise KeyError(item_id)

    def corrupt(self, key: str, field_name: str, raw: str | None) -> None:
        """Answer `raw` as a field of an item (by id) or ledger account (by code) from now on;
        None leaves the field, or an item's ID, out."""
        self.overrides.setdefault(key, {})[field_name] = raw

    def repair(self, key: str) -> None:
        self.overrides.pop(key, None)

    def bank_and_cash_total(self, prefixes: tuple[str, ...] = ("55", "57")) -> Decimal:
        """What the main administration's bank and cash ledger accounts add up to."""
        return sum((a.amount for a in self.main.gl_accounts if a.code.startswith(prefixes)), Decimal(0))

    def outstanding_answer(
        self, operation: str = "OutstandingDebtorItems", administration_id: str | None = None
    ) -> bytes:
        """The whole SOAP answer the simulator would send for an outstanding-items call."""
        admin = self._admin(administration_id)
        book = admin.receivables if operation == "OutstandingDebtorItems" else admin.payables
        return answers.result(operation, self._items_content(operation, book.values())).encode()

    # ---- switches -------------------------------------------------------------------------------
    def fail(self, mode: str, *, times: int = 1, seconds: float = 5.0, operation: str | None = None) -> None:
        """Make the next `times` calls (of `operation`, or any) fail as `mode` says."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; use one of {sorted(FAULT_MODES)}")
        self.faults.append(SimFault(mode, times, seconds, operation))

    def expire_sessions(self) -> None:
        """Every session handed out so far is refused from now on (as after 24 hours)."""
        self.sessions.clear()

    def calls_to(self, operation: str) -> list[SimCall]:
        return [call for call in self.calls if call.operation == operation]

    def calls_today(self, domain_id: str | None = None) -> int:
        """Calls counted against a domain's daily limit (the sandbox domain by default)."""
        return self.counted.get(domain_id or self.domain_id, 0)

    # ---- HTTP -----------------------------------------------------------------------------------
    def _build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/ws/{service}.asmx", self._soap, methods=["POST"]),
                Route("/_sim/calls", self._sim_calls, methods=["GET"]),
                Route("/_sim/fail", self._sim_fail, methods=["POST"]),
                Route("/_sim/reset", self._sim_reset, methods=["POST"]),
                Route("/_sim/pay", self._sim_pay, methods=["POST"]),
                Route("/_sim/expire-sessions", self._sim_expire, methods=["POST"]),
                Route("/_sim/config", self._sim_config, methods=["POST"]),
                Route("/_sim/summary", self._sim_summary, methods=["GET"]),
            ]
        )

    async def _soap(self, request: Request) -> Response:
        service = request.path_params["service"]
        action = request.headers.get("soapaction", "").strip().strip('"')
        operation = action[len(answers.YUKI_NS) :] if action.startswith(answers.YUKI_NS) else ""
        call = SimCall(service, operation or "?", "ok")
        self.calls.append(call)
        try:
            params = self._read_request(await request.body(), operation)
            injected = await self._injected(operation)
            if injected is not None:
                call.outcome = "injected"
                return injected
            return _xml(self._dispatch(service, operation, params))
        except _SoapFault as soap_fault:
            call.outcome = soap_fault.outcome
            return _xml(answers.fault(soap_fault.text, soap_fault.code), status=500)

    def _read_request(self, body: bytes, operation: str) -> dict[str, str]:
        if not operation:
            raise _SoapFault("Unable to handle request without a valid action parameter.", "soap:Client")
        try:
            root = fromstring(body, forbid_dtd=True)
        except (ParseError, DefusedXmlException):
            raise _SoapFault("Server was unable to read request.", "soap:Client") from None
        call = _body_child(root)
        if call is None or call.tag != f"{{{answers.YUKI_NS}}}{operation}":
            raise _SoapFault(
                f"Server did not recognize the value of HTTP Header SOAPAction: {operation}.",
                "soap:Client",
            )
        # Parameters are unqualified-by-prefix children in Yuki's namespace; names are exact.
        return {child.tag.rpartition("}")[2]: (child.text or "") for child in call}

    async def _injected(self, operation: str) -> Response | None:
        fault = next((f for f in self.faults if f.operation in (None, operation)), None)
        if fault is None:
            return None
        fault.times -= 1
        if fault.times <= 0:
            self.faults.remove(fault)
        if fault.mode == "slow":
            await self._sleep(fault.seconds)
            return None
        if fault.mode == "unknown_records":
            self._rename_records = True
            return None
        if fault.mode == "unknown_flood":
            return _flood(operation, self.flood_bytes)
        return _injected_response(fault.mode, operation)

    def _dispatch(self, service: str, operation: str, params: dict[str, str]) -> str:
        if operation == "Authenticate":
            return self._authenticate(params)
        if operation not in GENERAL_OPERATIONS | ACCOUNTING_OPERATIONS or service != "Accounting":
            raise _SoapFault(
                f"Server did not recognize the value of HTTP Header SOAPAction: {operation}.",
                "soap:Client",
            )
        key = self._session(params)
        self._count(key)
        if "Accounting" not in key.services:
            raise _SoapFault(TEXTS["no_rights"], outcome="refused")
        if operation == "Administrations":
            admins = [self.administrations[a] for a in key.administration_ids]
            return answers.result(operation, answers.administrations(admins))
        admin = self._authorised_admin(key, params)
        if operation == "GLAccountBalance":
            _require(params, "transactionDate")
            ledger = answers.gl_accounts(
                admin.gl_accounts, comma=self.comma_decimals, overrides=self.overrides
            )
            return answers.result(operation, ledger)
        _require(params, "includeBankTransactions", "sortOrder")
        book = admin.receivables if operation == "OutstandingDebtorItems" else admin.payables
        return answers.result(operation, self._items_content(operation, book.values()))

    def _count(self, key: SimKey) -> None:
        spent = self.counted.get(key.domain_id, 0)
        if spent >= self.daily_limit:
            raise _SoapFault(TEXTS["daily_limit"], outcome="refused")
        self.counted[key.domain_id] = spent + 1

    def _authenticate(self, params: dict[str, str]) -> str:
        key = self.keys.get(params.get("accessKey", ""))
        if key is None:
            raise _SoapFault(TEXTS["invalid_key"], outcome="refused")
        self._count(key)
        session_id = str(uuid.uuid4())
        self.sessions[session_id] = SimSession(key, self._epoch())
        return answers.result("Authenticate", session_id)

    def _session(self, params: dict[str, str]) -> SimKey:
        if "sessionID" not in params:
            raise _SoapFault(
                "Server was unable to process request. ---> Value cannot be null. Parameter name: sessionID"
            )
        session = self.sessions.get(params["sessionID"])
        if session is None or self._epoch() - session.started > SESSION_SECONDS:
            raise _SoapFault(TEXTS["expired_session"], outcome="refused")
        return session.key

    def _authorised_admin(self, key: SimKey, params: dict[str, str]) -> SimAdministration:
        admin_id = _require(params, "administrationID")
        if admin_id not in key.administration_ids:
            raise _SoapFault(TEXTS["no_admin"], outcome="refused")
        return self.administrations[admin_id]

    def _items_content(self, operation: str, items: Any) -> str:
        rows = "".join(
            answers.item(i, comma=self.comma_decimals, overrides=self.overrides.get(i.id)) for i in items
        )
        if self._rename_records:
            self._rename_records = False
            rows = rows.replace("<Item", "<Row").replace("</Item>", "</Row>")
        if self.shape == "bare":
            return rows
        document = f"<{operation}>{rows}</{operation}>"
        if self.shape == "escaped":
            return escape(document)
        return document

    def _admin(self, administration_id: str | None) -> SimAdministration:
        return self.administrations[administration_id] if administration_id else self.main

    # ---- /_sim/* ----------------------------------------------------------------------------------
    async def _sim_calls(self, request: Request) -> Response:
        return JSONResponse(
            {
                "calls": [
                    {"service": c.service, "operation": c.operation, "outcome": c.outcome} for c in self.calls
                ]
            }
        )

    async def _sim_fail(self, request: Request) -> Response:
        spec = await request.json()
        try:
            self.fail(
                str(spec["mode"]),
                times=int(spec.get("times", 1)),
                seconds=float(spec.get("seconds", 5.0)),
                operation=spec.get("operation"),
            )
        except (KeyError, ValueError) as error:
            return JSONResponse({"ok": False, "error": str(error)}, status_code=400)
        return JSONResponse({"ok": True})

    async def _sim_reset(self, request: Request) -> Response:
        self.reseed()
        return JSONResponse({"ok": True})

    async def _sim_pay(self, request: Request) -> Response:
        spec = await request.json()
        try:
            paid = self.pay(str(spec.get("item_id", "")))
        except KeyError:
            return JSONResponse({"ok": False, "error": "unknown item"}, status_code=404)
        return JSONResponse({"ok": True, "reference": paid.reference})

    async def _sim_expire(self, request: Request) -> Response:
        self.expire_sessions()
        return JSONResponse({"ok": True})

    async def _sim_config(self, request: Request) -> Response:
        spec = await request.json()
        self.shape = str(spec.get("shape", self.shape))
        self.comma_decimals = bool(spec.get("comma_decimals", self.comma_decimals))
        self.daily_limit = int(spec.get("daily_limit", self.daily_limit))
        return JSONResponse({"ok": True})

    async def _sim_summary(self, request: Request) -> Response:
        return JSONResponse(
            {
                "today": self.today.isoformat(),
                "administrations": [
                    {
                        "id": a.id,
                        "name": a.name,
                        "receivables": len(a.receivables),
                        "overdue": sum(1 for i in a.receivables.values() if i.due_date < self.today),
                        "payables": len(a.payables),
                    }
                    for a in self.administrations.values()
                ],
            }
        )


class _SoapFault(Exception):
    def __init__(self, text: str, code: str = "soap:Server", outcome: str = "fault") -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.outcome = outcome


def _require(params: dict[str, str], *names: str) -> str:
    for name in names:
        if not params.get(name, "").strip():
            raise _SoapFault(
                f"Server was unable to read request. ---> There is an error in XML document: {name} missing."
            )
    return params[names[0]]


def _body_child(root: Element) -> Element | None:
    if root.tag != f"{{{answers.SOAP11_NS}}}Envelope":
        return None
    body = root.find(f"{{{answers.SOAP11_NS}}}Body")
    return None if body is None or len(body) == 0 else body[0]


def _injected_response(mode: str, operation: str) -> Response:
    if mode == "http_500":
        return Response("<html><body>Runtime Error</body></html>", status_code=500, media_type="text/html")
    if mode == "malformed":
        return _xml(answers.result(operation, '<Items><Item ID="cut')[:-40])
    if mode == "xml_bomb":
        return _xml(answers.billion_laughs(operation))
    if mode == "xxe":
        return _xml(answers.external_entity(operation))
    if mode == "wrong_envelope":
        return _xml(answers.wrong_envelope(operation))
    return _xml(answers.fault(TEXTS[mode]), status=500)


def _flood(operation: str, size: int) -> Response:
    """A well-formed answer whose result is `size` bytes of unknown elements, never held whole."""
    head, _, tail = answers.result(operation, "\x00").partition("\x00")
    unit = b"<Unknown><Deeper>filler</Deeper></Unknown>" * 1500

    async def body() -> AsyncIterator[bytes]:
        yield head.encode()
        for _ in range(max(1, size // len(unit))):
            yield unit
        yield tail.encode()

    return StreamingResponse(body(), media_type="text/xml; charset=utf-8")


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")
