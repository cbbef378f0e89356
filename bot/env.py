"""Typed readers over an environment mapping that bot.config hands over (this module reads no os.environ)."""

from __future__ import annotations

import ipaddress
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from bot.errors import ConfigError

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Env:
    """Typed readers over one environment mapping; each raises ConfigError on a bad value."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(name, f"is {raw!r}, not a whole number", f"use {low}..{high}") from None
        if not low <= value <= high:
            raise ConfigError(name, f"is {value}, out of range", f"use {low}..{high}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = (self.text(name) or "").lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, f"is {raw!r}", "use true or false")

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = (self.text(name) or default).upper()
        if value not in options:
            raise ConfigError(name, f"is {value!r}", "use one of " + ", ".join(options))
        return value

    def log_format(self) -> Literal["json", "text"]:
        value = (self.text("LOG_FORMAT") or "json").lower()
        if value == "json":
            return "json"
        if value == "text":
            return "text"
        raise ConfigError("LOG_FORMAT", f"is {value!r}", "use json or text")

    def url(self, name: str, default: str, *, trailing_slash: bool = False) -> str:
        value = self.text(name) or default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(name, f"is {value!r}, not an http(s) URL", "use e.g. https://host/path")
        if trailing_slash and not value.endswith("/"):
            value += "/"
        return value

    def public_url(self, name: str, default: str) -> str:
        value = self.url(name, default).rstrip("/")
        parts = urlsplit(value)
        if parts.query or parts.fragment:
            raise ConfigError(name, "has a query or fragment", "use the bare base URL")
        if parts.scheme != "https" and parts.hostname not in LOCAL_HOSTS:
            raise ConfigError(
                name,
                f"is {value!r}, which is not https",
                "serve the bot over https (only localhost/127.0.0.1 may use http)",
            )
        return value

    def database_url(self, name: str, default: str) -> str:
        value = self.text(name) or default
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ConfigError(name, "is not a database URL", "use sqlite+aiosqlite:///path.db")
        aliases = {
            "sqlite": "sqlite+aiosqlite",
            "postgres": "postgresql+asyncpg",
            "postgresql": "postgresql+asyncpg",
        }
        scheme = aliases.get(scheme, scheme)
        if scheme not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ConfigError(
                name,
                f"uses the driver {scheme!r}",
                "use sqlite+aiosqlite:///file.db or postgresql+asyncpg://user@host/db",
            )
        return f"{scheme}://{rest}"

    def fernet_keys(self, name: str) -> tuple[str, ...]:
        raw = self.text(name)
        if raw is None:
            return ()
        keys = tuple(k.strip() for k in raw.split(",") if k.strip())
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.encode())
            except ValueError:
                raise ConfigError(
                    name,
                    f"key #{position} is not a Fernet key (32 url-safe base64 bytes)",
                    "run `cashbot keygen` to make a valid one",
                ) from None
        return keys

    def secret_key(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and len(value) < 32:
            raise ConfigError(name, "is shorter than 32 characters", "run `cashbot keygen`")
        return value

    def existing_file(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not Path(value).is_file():
            raise ConfigError(name, f"names {value!r}, which is not a readable file", "fix the path")
        return value

    def addresses(self, name: str) -> tuple[str, ...]:
        """Comma-separated IP addresses or networks (`10.0.0.1,10.1.0.0/16`)."""
        raw = self.text(name)
        if raw is None:
            return ()
        items = tuple(item.strip() for item in raw.split(",") if item.strip())
        for item in items:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(
                    name, f"has {item!r}, not an IP address or network", "use 10.0.0.2,10.1.0.0/16"
                ) from None
        return items

    def redis_url(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(name, f"is {value!r}", "use redis://host:6379/0")
        return value

    def timezone(self, name: str, default: str) -> str:
        value = self.text(name) or default
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                name, f"is {value!r}, not a known timezone", "use e.g. Europe/Brussels"
            ) from None
        return value
