"""Log lines are JSON, carry their extras, and never contain a token, a secret or a request body."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.app.logs import JsonFormatter, ScrubSecrets, configure_logging, scrub


@pytest.mark.parametrize(
    "secret_text",
    [
        "xoxb-1234-abcdef",
        "Authorization: Bearer abc.def.ghi",
        "refresh_token=rt-very-secret&x=1",
        '{"client_secret": "cs-very-secret"}',
        "<accessKey>yuki-key-123</accessKey>",
        "GET /connect/ponto?t=one-time-link-token",
        "gAAAAABnot-a-real-fernet-token-but-long-enough",
        "https://hooks.slack.com/commands/T1/2/abc",
    ],
)
def test_secrets_are_scrubbed(secret_text: str) -> None:
    cleaned = scrub(secret_text)

    assert "[redacted]" in cleaned
    for fragment in (
        "1234-abcdef",
        "abc.def.ghi",
        "rt-very-secret",
        "cs-very-secret",
        "yuki-key-123",
        "one-time-link-token",
        "not-a-real-fernet",
        "/commands/T1",
    ):
        assert fragment not in cleaned


def capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ScrubSecrets())
    logger = logging.getLogger("test.capture")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_json_lines_with_extras_and_scrubbed_values() -> None:
    logger, stream = capture()

    logger.info("sync.failed", extra={"provider": "ponto", "error": "token xoxb-999-zzz rejected"})

    entry = json.loads(stream.getvalue())
    assert entry["event"] == "sync.failed" and entry["provider"] == "ponto" and entry["level"] == "info"
    assert "xoxb-999" not in entry["error"]


def test_bolt_lines_quoting_a_body_are_dropped() -> None:
    filt = ScrubSecrets()
    record = logging.LogRecord(
        "slack_bolt.App", logging.INFO, "", 0, "Invalid signature (body: text=secret)", None, None
    )

    assert filt.filter(record) is False


def test_slack_libraries_never_log_below_warning() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("DEBUG", "text")
    try:
        assert logging.getLogger("slack_sdk").getEffectiveLevel() >= logging.WARNING
        assert logging.getLogger("slack_bolt").getEffectiveLevel() >= logging.WARNING
    finally:
        root.handlers[:], root.level = saved


def test_uvicorn_colour_codes_never_reach_a_json_line() -> None:
    logger, stream = capture()

    # What uvicorn logs at start-up: the message, and a coloured copy of it as an extra.
    logger.info(
        "Uvicorn running on %s",
        "http://0.0.0.0:3000",
        extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"},
    )
    logger.info("\x1b[32mINFO\x1b[0m: started")

    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["event"] for line in lines] == [
        "Uvicorn running on http://0.0.0.0:3000",
        "INFO: started",
    ]
    assert all("\\u001b" not in line and "color_message" not in line for line in lines)


def test_a_line_carries_the_workspace_and_command_it_was_logged_under() -> None:
    from bot import log_context

    logger, stream = capture()

    with log_context.bind(workspace="T0ACME", command="/cash"):
        logger.warning("report.slow")
    logger.warning("outside")

    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["workspace"] == "T0ACME" and inside["command"] == "/cash"
    assert "workspace" not in outside


def test_a_job_cancelled_by_a_clean_stop_is_not_logged_as_a_failure() -> None:
    import asyncio

    try:
        raise asyncio.CancelledError
    except asyncio.CancelledError:
        import sys

        cancelled = logging.LogRecord(
            "apscheduler.executors.default", logging.ERROR, "", 0, "Job raised", None, sys.exc_info()
        )
    failed = logging.LogRecord(
        "apscheduler.executors.default", logging.ERROR, "", 0, "Job raised", None, None
    )

    assert ScrubSecrets().filter(cancelled) is False
    assert ScrubSecrets().filter(failed) is True
