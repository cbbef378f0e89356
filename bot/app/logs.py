"""Logging set-up: JSON or text lines, secrets scrubbed, and no request body ever logged."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from typing import Any

from bot import log_context

# Things that must never reach a log line, whatever logged them.
_TOKENS = [
    re.compile(r"xox[abeprs]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"),  # Fernet tokens
    re.compile(r"hooks\.slack\.com/\S+"),
]
# Full IBANs (a country, two check digits, 11 to 30 letters and digits, maybe grouped by four),
# and the parameters SQLAlchemy quotes in its error messages.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s|$)", re.DOTALL)
_KEY_VALUE = re.compile(
    r"(?i)\b(access_token|refresh_token|client_secret|code_verifier|code|accesskey|password|t)"
    r"([\"']?\s*[=:]\s*[\"']?|>)[^\s\"'&,}<]+"
)
# Libraries that log what must not be logged, or too much, below WARNING: slack_sdk and httpcore
# log request and response bodies (tokens included) at DEBUG, Bolt the body of a badly signed
# request at INFO; SQLAlchemy's engine logs every statement with its parameters (full IBANs,
# counterparties) and aiosqlite every call with its arguments at DEBUG; APScheduler logs each run
# of each job at INFO (585 of 636 lines of a quiet `serve`), its errors still come through.
NOISY_LIBRARIES = (
    "slack_bolt",
    "slack_sdk",
    "httpx",
    "httpcore",
    "aiohttp.access",
    "uvicorn.access",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "sqlalchemy.orm",
    "aiosqlite",
    "asyncpg",
    "apscheduler",
    "multipart",
    "python_multipart",
    "matplotlib",
    "PIL",
)
_NOISY_PREFIXES = tuple(name + suffix for name in NOISY_LIBRARIES for suffix in ("", ".", ":"))
# uvicorn adds `color_message`, a copy of the message with ANSI colour codes, to its records.
_DROPPED_EXTRAS = frozenset({"color_message"})
_RESERVED = (
    set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"} | _DROPPED_EXTRAS
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def scrub(text: str) -> str:
    """The text with tokens, secrets and one-time link parameters replaced by [redacted]."""
    text = _ANSI.sub("", text)
    text = _SQL_PARAMETERS.sub("[parameters: redacted]", text)
    text = _IBAN.sub("[iban]", text)
    for pattern in _TOKENS:
        text = pattern.sub("[redacted]", text)
    return _KEY_VALUE.sub(r"\1\2[redacted]", text)


class ScrubSecrets(logging.Filter):
    """Redacts tokens in the message and extras; drops Bolt's lines that quote a request body."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Bolt gives its app logger a level of its own, so the level set in configure_logging
        # is not enough: the noisy libraries' lines below WARNING stop here whatever their level.
        if record.levelno < logging.WARNING and record.name.startswith(_NOISY_PREFIXES):
            return False
        if _cancelled_at_shutdown(record):
            return False
        message = record.getMessage()
        if record.name.startswith("slack_bolt") and "body:" in message:
            return False
        record.msg = scrub(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _RESERVED and isinstance(value, str):
                record.__dict__[key] = scrub(value)
        return True


def _cancelled_at_shutdown(record: logging.LogRecord) -> bool:
    """APScheduler logs a job cancelled by a clean stop (SIGTERM mid-run) as a failed job."""
    error = record.exc_info[1] if record.exc_info else None
    return record.name.startswith("apscheduler") and isinstance(error, asyncio.CancelledError)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, event, then the extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        # What the task was doing (workspace, command, job, the failed provider call), unless
        # the line says it itself. Formatting runs in the logging task, so its context is there.
        for key, value in log_context.current().items():
            entry.setdefault(key, scrub(value))
        if record.exc_info:
            entry["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines with the extras appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _RESERVED)
        return f"{base} {extras}".rstrip()


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Install one stderr handler on the root logger; quiet the libraries that log bodies."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = __import__("time").gmtime
    else:
        formatter = TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(formatter)
    handler.addFilter(ScrubSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
