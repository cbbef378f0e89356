"""Ponto's settings (PONTO_* in the environment): fields of cashbot's Settings, read by bot.config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bot.env import Env


@dataclass(frozen=True, kw_only=True)
class PontoSettings:
    """What Ponto needs from the environment."""

    ponto_client_id: str | None = None
    ponto_client_secret: str | None = field(default=None, repr=False)
    ponto_api_url: str = "https://api.ibanity.com/ponto-connect"
    ponto_authorization_url: str = "https://authorization.myponto.com/oauth2/auth"
    ponto_client_cert: str | None = None
    ponto_client_key: str | None = None
    ponto_scopes: str = "ai offline_access name"
    ponto_request_sync: bool = False
    ponto_late_booking_days: int = 10
    ponto_unknown_attributes: Literal["error", "ignore"] = "error"

    @classmethod
    def read_env(cls, env: Env) -> dict[str, Any]:
        return dict(
            ponto_client_id=env.text("PONTO_CLIENT_ID"),
            ponto_client_secret=env.text("PONTO_CLIENT_SECRET"),
            ponto_api_url=env.url("PONTO_API_URL", cls.ponto_api_url),
            ponto_authorization_url=env.url("PONTO_AUTHORIZATION_URL", cls.ponto_authorization_url),
            ponto_client_cert=env.existing_file("PONTO_CLIENT_CERT"),
            ponto_client_key=env.existing_file("PONTO_CLIENT_KEY"),
            ponto_scopes=env.text("PONTO_SCOPES") or cls.ponto_scopes,
            ponto_request_sync=env.boolean("PONTO_REQUEST_SYNC", cls.ponto_request_sync),
            ponto_late_booking_days=env.integer(
                "PONTO_LATE_BOOKING_DAYS", cls.ponto_late_booking_days, 0, 90
            ),
            ponto_unknown_attributes=(
                "ignore"
                if env.choice("PONTO_UNKNOWN_ATTRIBUTES", "ERROR", ("ERROR", "IGNORE")) == "IGNORE"
                else "error"
            ),
        )
