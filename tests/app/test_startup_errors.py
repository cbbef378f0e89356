"""Start-up with bad settings: the real `cashbot` command says what is wrong in one line, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from storage.crypto import generate_key
from tests.harness import AUDIT_KEY, SIGNING_SECRET


def cashbot(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CASHBOT_", "SLACK_", "PUBLIC_URL", "DATABASE_URL", "PORT"))
    }
    base |= {
        "CASHBOT_ENCRYPTION_KEYS": generate_key(),
        "CASHBOT_AUDIT_KEY": AUDIT_KEY,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "HOST": "127.0.0.1",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.app.cli", *args],
        env=base | env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The whole output is one `cashbot: …` line on stderr."""
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output, output
    assert len(output.splitlines()) == 1, output
    assert output.startswith("cashbot: "), output
    return output


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_unreachable_postgresql_is_named_in_one_line(tmp_path: Path, command: str) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/cashbot"
    result = cashbot(command, cwd=tmp_path, DATABASE_URL=url, PORT=str(closed_port()))
    line = one_line(result)
    assert result.returncode == 1
    assert "cannot use the database at 127.0.0.1:" in line and "connection refused" in line
    assert "DATABASE_URL" in line


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_sqlite_file_in_a_missing_folder_is_named(tmp_path: Path, command: str) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    result = cashbot(
        command,
        cwd=tmp_path,
        DATABASE_URL=f"sqlite+aiosqlite:///{missing}/cashbot.db",
        PORT=str(closed_port()),
    )
    line = one_line(result)
    assert result.returncode == 2
    assert f"folder that does not exist ({missing})" in line


@pytest.mark.parametrize("command", [["sync"], ["audit", "verify"]])
def test_a_never_migrated_database_says_run_migrate(tmp_path: Path, command: list[str]) -> None:
    result = cashbot(*command, cwd=tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    line = one_line(result)
    assert result.returncode == 1
    assert "run `cashbot migrate` first" in line


def test_a_busy_port_stops_serve_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = cashbot(
            "serve", cwd=tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/c.db", PORT=str(port)
        )
    line = one_line(result)
    assert result.returncode == 2
    expected = f"PORT {port} is already in use on 127.0.0.1: stop what holds it, or set PORT to a free one"
    assert line == f"cashbot: {expected}"
    assert "CancelledError" not in result.stderr


def test_manifest_without_public_url_refuses(tmp_path: Path) -> None:
    result = cashbot("manifest", cwd=tmp_path)
    line = one_line(result)
    assert result.returncode == 2
    assert "PUBLIC_URL must be the bot's public https:// address" in line
    ok = cashbot("manifest", cwd=tmp_path, PUBLIC_URL="https://cashbot.example.com")
    assert ok.returncode == 0 and "https://cashbot.example.com/slack/events" in ok.stdout


def test_cli_counts_are_words_with_plurals(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    assert cashbot("migrate", cwd=tmp_path, DATABASE_URL=url).returncode == 0
    result = cashbot("audit", "verify", cwd=tmp_path, DATABASE_URL=url)
    assert result.stdout.strip() == "0 audit events in 0 chains: intact"
