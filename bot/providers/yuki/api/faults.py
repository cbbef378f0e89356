"""SOAP faults → the typed errors of bot.errors (Yuki's exact fault texts are not documented).

Yuki answers every failure with a SOAP Fault on HTTP 500 and a human-readable `faultstring`.
The wording of the session, limit and rights faults is not published (yuki.md §4, §6), so the
fault is classified by keyword rules that a deployment can replace (`FaultRules`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.errors import ProviderError, ProviderUnavailable, RateLimited, ReauthRequired

PROVIDER = "yuki"
_MAX_SHOWN = 160
_GUID = re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\b")
_LONG_TOKEN = re.compile(r"\b[A-Za-z0-9+/=_-]{24,}\b")


class FaultKind(enum.StrEnum):
    """What a fault means for the caller."""

    LIMIT = "daily_limit"
    RIGHTS = "no_rights"
    SESSION = "session"
    AUTH = "invalid_key"
    SERVER = "server_fault"


@dataclass(frozen=True)
class FaultRules:
    """Case-insensitive patterns per kind, tried in this order: limit, rights, session, auth."""

    limit: str = r"limit|maximum number of|too many (web ?service )?calls|limiet|overschreden|quota"
    rights: str = (
        r"no (web ?service )?rights|insufficient rights|rights? (for|to|on)|not allowed to use|"
        r"no access to (the )?(web ?service|accounting)|permission|geen rechten"
    )
    session: str = r"session|sessie"
    auth: str = (
        r"access ?key|api ?key|access ?code|authenticat|not authori[sz]ed|unauthori[sz]ed|"
        r"invalid (key|user|login|credentials)|toegangssleutel"
    )

    def classify(self, text: str) -> FaultKind:
        for kind, pattern in (
            (FaultKind.LIMIT, self.limit),
            (FaultKind.RIGHTS, self.rights),
            (FaultKind.SESSION, self.session),
            (FaultKind.AUTH, self.auth),
        ):
            if re.search(pattern, text, re.IGNORECASE):
                return kind
        return FaultKind.SERVER


DEFAULT_FAULT_RULES = FaultRules()


class SessionRejected(ReauthRequired):
    """Yuki refused the session id; the client authenticates again once and retries."""


@dataclass(frozen=True)
class Fault:
    """A SOAP fault as received: its code and text."""

    code: str
    text: str


def fault_error(
    fault: Fault, operation: str, rules: FaultRules, *, secrets: Iterable[str] = ()
) -> ProviderError:
    """The typed error for a fault; its message never carries a key or session id."""
    shown = redact(fault.text, secrets)
    kind = rules.classify(fault.text)
    message = f"{operation} failed: {shown}"
    if kind is FaultKind.LIMIT:
        return RateLimited(PROVIDER, message, code=kind.value, status=500)
    if kind is FaultKind.RIGHTS:
        return ReauthRequired(PROVIDER, message, code=kind.value, status=500)
    if kind is FaultKind.SESSION or (kind is FaultKind.AUTH and operation != "Authenticate"):
        # A key that authenticated a moment ago and is refused now: the session is the suspect.
        return SessionRejected(PROVIDER, message, code=FaultKind.SESSION.value, status=500)
    if kind is FaultKind.AUTH:
        return ReauthRequired(PROVIDER, message, code=kind.value, status=500)
    return ProviderUnavailable(PROVIDER, message, code=kind.value, status=500)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """A fault text safe for logs and messages: secrets, GUIDs and long tokens removed, short."""
    cleaned = " ".join(text.split())
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "[redacted]")
    cleaned = _GUID.sub("[id]", cleaned)
    cleaned = _LONG_TOKEN.sub("[redacted]", cleaned)
    return cleaned if len(cleaned) <= _MAX_SHOWN else cleaned[:_MAX_SHOWN] + "…"
