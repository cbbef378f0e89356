"""Yuki's settings (YUKI_* in the environment): fields of cashbot's Settings, read by bot.config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.env import Env


@dataclass(frozen=True, kw_only=True)
class YukiSettings:
    """What Yuki needs from the environment."""

    yuki_api_url: str = "https://api.yukiworks.be/ws"
    yuki_daily_call_budget: int = 800

    @classmethod
    def read_env(cls, env: Env) -> dict[str, Any]:
        return dict(
            yuki_api_url=env.url("YUKI_API_URL", cls.yuki_api_url),
            yuki_daily_call_budget=env.integer(
                "YUKI_DAILY_CALL_BUDGET", cls.yuki_daily_call_budget, 1, 100_000
            ),
        )
