"""Configuration: every malformed or missing setting stops start-up with one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import Settings
from bot.errors import ConfigError
from storage.crypto import generate_key

KEY = generate_key()
GOOD = {
    "SLACK_SIGNING_SECRET": "s",
    "SLACK_BOT_TOKEN": "xoxb-test",
    "CASHBOT_ENCRYPTION_KEYS": KEY,
    "CASHBOT_AUDIT_KEY": "a" * 40,
}


def test_defaults_follow_the_contract() -> None:
    settings = Settings.from_env({})

    assert settings.database_url == "sqlite+aiosqlite:///./cashbot.db"
    assert settings.public_url == "http://localhost:3000"
    assert settings.port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.yuki_daily_call_budget == 800
    assert settings.timezone == "Europe/Brussels"
    assert settings.report_cache_seconds == 60
    assert settings.slack_mode == "none"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PUBLIC_URL": "http://cash.example.com"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "ftp://localhost"}, "PUBLIC_URL"),
        ({"PUBLIC_URL": "https://x.example.com/?a=1"}, "PUBLIC_URL"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
        ({"CASHBOT_ENCRYPTION_KEYS": f"{KEY},not-a-key"}, "CASHBOT_ENCRYPTION_KEYS"),
        ({"CASHBOT_AUDIT_KEY": "short"}, "CASHBOT_AUDIT_KEY"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL"),
        ({"PONTO_API_URL": "not a url"}, "PONTO_API_URL"),
        ({"PONTO_CLIENT_CERT": "/nonexistent/cert.pem"}, "PONTO_CLIENT_CERT"),
        ({"YUKI_DAILY_CALL_BUDGET": "-1"}, "YUKI_DAILY_CALL_BUDGET"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"CASHBOT_TIMEZONE": "Mars/Olympus"}, "CASHBOT_TIMEZONE"),
        ({"CASHBOT_REPORT_CACHE_SECONDS": "0"}, "CASHBOT_REPORT_CACHE_SECONDS"),
        ({"CASHBOT_REPORT_CACHE_SECONDS": "a minute"}, "CASHBOT_REPORT_CACHE_SECONDS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"SLACK_CLIENT_ID": "1.2"}, "SLACK_CLIENT_SECRET"),
        (
            {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s", "SLACK_BOT_TOKEN": "x"},
            "SLACK_BOT_TOKEN",
        ),
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)

    assert error.value.variable == variable
    assert "\n" not in str(error.value)


def test_localhost_may_use_http_and_urls_are_normalised() -> None:
    settings = Settings.from_env(
        {"PUBLIC_URL": "http://127.0.0.1:8080/", "DATABASE_URL": "postgres://u@h/db"}
    )

    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.url_for("/oauth/ponto/callback") == "http://127.0.0.1:8080/oauth/ponto/callback"
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


def test_web_needs_signing_secret_slack_mode_and_keys() -> None:
    Settings.from_env(GOOD).require_web()
    for missing in (
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "CASHBOT_ENCRYPTION_KEYS",
        "CASHBOT_AUDIT_KEY",
    ):
        env = {k: v for k, v in GOOD.items() if k != missing}
        with pytest.raises(ConfigError):
            Settings.from_env(env).require_web()


def test_multi_workspace_mode() -> None:
    env = {**GOOD, "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s"}
    env.pop("SLACK_BOT_TOKEN")

    assert Settings.from_env(env).slack_mode == "multi"


def test_secrets_are_not_in_repr() -> None:
    text = repr(
        Settings.from_env(
            {**GOOD, "SLACK_CLIENT_SECRET": "sssh", "SLACK_CLIENT_ID": "1"} | {"SLACK_BOT_TOKEN": ""}
        )
    )

    assert KEY not in text and "sssh" not in text


@pytest.mark.parametrize("command", ["serve", "web", "worker"])
def test_start_up_with_bad_config_prints_one_line_and_no_traceback(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CASHBOT_", "PONTO_", "YUKI_"))}
    env["PUBLIC_URL"] = "http://cash.example.com"

    result = subprocess.run(
        [sys.executable, "-m", "bot.app.cli", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "PUBLIC_URL" in result.stderr and "Traceback" not in result.stderr
