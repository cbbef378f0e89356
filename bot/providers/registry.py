"""The installed providers, in the order /cashbot status and Sync now list them: the one list."""

from __future__ import annotations

from bot.domain import Provider
from bot.providers.base import ProviderPackage
from bot.providers.ponto.wiring import PACKAGE as PONTO
from bot.providers.yuki.wiring import PACKAGE as YUKI

INSTALLED: tuple[ProviderPackage, ...] = (PONTO, YUKI)


def titles() -> dict[str, str]:
    """Each provider's name as people read it, keyed by its identifier ("Ponto" for "ponto")."""
    return {package.provider.value: package.title for package in INSTALLED}


def joined_titles() -> str:
    """ "Ponto and Yuki": the installed providers in a sentence."""
    return " and ".join(titles().values())


def identifiers() -> tuple[str, ...]:
    """Each provider's identifier, in order: what `/cashbot connect <provider>` accepts."""
    return tuple(package.provider.value for package in INSTALLED)


def package_for(provider: Provider) -> ProviderPackage:
    return next(package for package in INSTALLED if package.provider is provider)
