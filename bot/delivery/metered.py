"""A Slack Web API client that counts its calls and Slack's 429s for /metrics."""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot import metrics


class CountRateLimits(AsyncRetryHandler):
    """Retries nothing: counts every 429 Slack answers, the waits included, then lets the next
    handler decide. First in the list, so Bolt's per-request clients (which copy the list) count too."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=1_000_000)  # asked on every failed attempt, however many

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            metrics.SLACK_RATE_LIMITED.inc()
        return False


class MeteredWebClient(AsyncWebClient):
    """AsyncWebClient counting each call by method and outcome (ok, a Slack error, rate_limited…)."""

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        outcome = "network_error"
        try:
            response = await super().api_call(api_method, **kwargs)
            outcome = "ok"
            return response
        except SlackApiError as error:
            outcome = "rate_limited" if error.response.status_code == 429 else "error"
            raise
        finally:
            metrics.SLACK_CALLS.labels(api_method, outcome).inc()
