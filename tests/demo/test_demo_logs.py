"""The log of a whole `cashbot demo` at LOG_LEVEL=DEBUG: JSON lines with no secret and no body."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

IBAN = re.compile(r"\b(?:BE|NL)\d{2} ?(?:[0-9A-Z]{4} ?){2}[0-9A-Z]{4}")
SECRETS = re.compile(
    r"xox[abeprs]-|(?i:bearer\s+\w)|gAAAAA|[A-Za-z0-9_-]{43}=|accessKey|client_secret|refresh_token\W+\w"
)
# What a request or response body would leave: a form-encoded Slack request, Block Kit, SOAP.
BODIES = re.compile(r"token=|command=%2F|payload=|\"blocks\"|<soap|<\?xml|\"access_token\"")
QUIET_BELOW_WARNING = ("sqlalchemy", "aiosqlite", "apscheduler", "httpx", "httpcore", "slack_")


async def test_a_debug_demo_logs_no_iban_token_key_or_body(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CASHBOT_", "PONTO_", "YUKI_", "DATABASE_", "LOG_"))
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        "demo",
        "--output",
        str(tmp_path / "out"),
        cwd=tmp_path,
        env={**env, "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "json"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        _, errors = await process.communicate()
    log = errors.decode()

    assert process.returncode == 0, log[-3000:]
    entries = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    assert any(e["level"] == "debug" and e["logger"].startswith("cashbot") for e in entries), "DEBUG is on"
    assert "\\u001b" not in log and "\x1b" not in log, "no colour codes inside JSON lines"
    assert not IBAN.findall(log), "no full IBAN"
    assert not SECRETS.findall(log), "no token, key or secret"
    assert not BODIES.findall(log), "no request or response body"
    chatty = [
        e for e in entries if e["logger"].startswith(QUIET_BELOW_WARNING) and e["level"] in ("debug", "info")
    ]
    assert not chatty, f"libraries that log SQL, bodies or every job run stay at WARNING: {chatty[:3]}"
