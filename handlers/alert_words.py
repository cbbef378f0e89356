"""What an alert says, in plain words: what failed, since when, what the figures rest on, what to do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.features.incidents.lifecycle import Notice
from bot.providers import registry

TITLES = registry.titles()


def words(notice: Notice) -> dict[str, Any]:
    """The strings the alert template puts together."""
    facts, connection = notice.incident, notice.connection
    title = TITLES.get(facts.provider, facts.provider.title())
    last_good = connection.last_success_at if connection is not None else None
    name = (connection.external_name if connection is not None else None) or title
    return {
        "title": title,
        "headline": _headline(title, facts.kind),
        "failed": _failed(title, facts.kind, facts.error_code, notice),
        "connection": f"{title} · {name}",
        "since": stamp(facts.first_failed_at),
        "last_good": stamp(last_good) if last_good else "never",
        "count": _count(facts.failures, facts.last_failed_at, facts.kind),
        "based_on": f"`/cash` and `/overdue` show what {title} gave at the last good sync"
        + (f" ({stamp(last_good)})." if last_good else ", and there has been none yet."),
        "todo": _todo(title, facts.kind),
        "reconnect": facts.kind in ("reauth", "consent"),
        "retry": facts.kind in ("outage", "secret"),  # a sync cannot renew a consent or a grant
        "recovered": "Figures are up to date again."
        if facts.kind != "consent"
        else "The consent was renewed.",
        "resolved_at": stamp(facts.resolved_at) if facts.resolved_at else "",
    }


def stamp(moment: dt.datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(dt.UTC).strftime("%a %d %b %H:%M UTC")


def _headline(title: str, kind: str) -> str:
    return {
        "reauth": f"{title} needs to be reconnected",
        "secret": f"cashbot cannot read the {title} credentials",
        "consent": f"The {title} bank consent expires soon",
        "held": f"A {title} sync is held: it would close most open items at once",
    }.get(kind, f"{title} is not answering")


def _failed(title: str, kind: str, code: str | None, notice: Notice) -> str:
    if kind == "reauth":
        return f"{title} no longer accepts cashbot's access (revoked or lapsed), so nothing is synced."
    if kind == "secret":
        return f"cashbot cannot decrypt the stored {title} credentials, so nothing is synced."
    if kind == "consent":
        expires = notice.connection.consent_expires_at if notice.connection is not None else None
        return f"The bank consent given through {title} ends {stamp(expires)}; then no bank data comes in."
    if kind == "held":
        return f"The last {title} answer lists far fewer open items than are stored, so it was not applied."
    if code == "rate_limited":
        return f"{title} asks cashbot to slow down (too many requests), so the last syncs did not finish."
    return f"{title} does not answer or answers with errors, so the last syncs did not finish."


def _count(failures: int, last: dt.datetime, kind: str) -> str:
    if kind == "consent":
        return "—"
    return f"{failures} time{'s' if failures != 1 else ''}, last {stamp(last)}"


def _todo(title: str, kind: str) -> str:
    if kind in ("reauth", "consent"):
        return f"An admin or manager clicks *Reconnect* and approves {title} again; it takes a minute."
    if kind == "held":
        return (
            f"Check the open items in {title}. If most really were paid, a workspace admin types "
            f"`/cashbot sync confirm {title.lower()}`; otherwise nothing needs doing."
        )
    if kind == "secret":
        return "Check `CASHBOT_ENCRYPTION_KEYS` on the server: the key they were stored with must be listed."
    return f"Usually nothing: cashbot keeps trying and says here when {title} works again; or *Retry now*."
