"""Property: only a correctly signed request inside the 5-minute window ever reaches a handler."""

from __future__ import annotations

import time

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.sandbox.slack_requests import sign
from tests.harness import SIGNING_SECRET, BotUnderTest

bodies = st.text(min_size=0, max_size=300)
skews = st.integers(min_value=-100_000, max_value=100_000)
secrets_ = st.sampled_from([SIGNING_SECRET, "another-secret", SIGNING_SECRET + "x", ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=bodies, skew=skews, secret=secrets_, tamper=st.booleans())
async def test_forged_stale_or_tampered_never_reaches_a_handler(
    bot: BotUnderTest, text: str, skew: int, secret: str, tamper: bool
) -> None:
    body = bot.slack.command_body("/cashbot", "help " + text)
    timestamp = str(int(time.time()) + skew)
    signature = sign(secret, timestamp, body) if secret else "v0="
    sent = body + "&x=1" if tamper else body
    async with httpx.AsyncClient() as client:
        response = await client.post(
            bot.slack.events_url,
            content=sent.encode(),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "x-slack-request-timestamp": timestamp,
                "x-slack-signature": signature,
            },
        )

    genuine = secret == SIGNING_SECRET and abs(skew) <= 290 and not tamper
    if genuine:
        assert response.status_code == 200 and "/cashbot help" in response.text
    elif abs(skew) > 310 or secret != SIGNING_SECRET or tamper:
        assert response.status_code == 401
        assert "cashbot" not in response.text
