"""The installed providers' settings as one base of cashbot's Settings (light: no provider code loads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, cast

from bot.env import Env
from bot.providers.ponto.settings import PontoSettings
from bot.providers.yuki.settings import YukiSettings


class _ReadsEnv(Protocol):
    @classmethod
    def read_env(cls, env: Env) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True)
class ProviderSettings(PontoSettings, YukiSettings):
    """Every installed provider's settings; each base reads its own variables."""

    @classmethod
    def read_env(cls, env: Env) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for base in ProviderSettings.__bases__:
            values |= cast(type[_ReadsEnv], base).read_env(env)
        return values
