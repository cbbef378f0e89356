"""Ponto's failures mapped onto cashbot's error types, carrying Ponto's code, detail and request id."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from bot.errors import (
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from bot.providers.http import retry_after_seconds

log = logging.getLogger(__name__)

PROVIDER = "ponto"
REQUEST_ID_HEADER = "ibanity-request-id"
MAX_DETAIL = 200

# OAuth errors after which only a person can help: the grant is gone (RFC 6749 §5.2).
REAUTH_OAUTH_ERRORS = frozenset({"invalid_grant", "unauthorized_client"})


def request_id(response: httpx.Response) -> str | None:
    value = response.headers.get(REQUEST_ID_HEADER)
    return str(value)[:128] if value else None


def malformed(response: httpx.Response | None, problem: str) -> MalformedResponse:
    """A document we cannot use; logged here with the request id so support can trace it."""
    rid = request_id(response) if response is not None else None
    log.warning("ponto.malformed", extra={"problem": problem[:300], "request_id": rid})
    return MalformedResponse(PROVIDER, problem, request_id=rid, status=getattr(response, "status_code", None))


def api_error(response: httpx.Response) -> ProviderError:
    """The error an unsuccessful JSON:API answer stands for."""
    code, detail = _first_api_error(response)
    return _classify(response, code, detail)


def oauth_error(response: httpx.Response) -> ProviderError:
    """The error an unsuccessful token or revocation answer stands for (plain OAuth JSON)."""
    body = _json_object(response)
    code = _text(body.get("error")) if body else None
    detail = _text(body.get("error_description")) if body else None
    if code is None:  # some gateways answer OAuth endpoints in JSON:API form
        code, detail = _first_api_error(response)
    if code in REAUTH_OAUTH_ERRORS:
        return _logged(
            response, ReauthRequired(PROVIDER, _message("grant refused", detail), **_ids(response, code))
        )
    if code is not None and response.status_code < 500 and response.status_code != 429:
        # invalid_client, invalid_request, …: our configuration or our request, not the user's grant
        return _logged(
            response,
            ProviderError(PROVIDER, _message("OAuth request refused", detail), **_ids(response, code)),
        )
    return _classify(response, code, detail)


def _classify(response: httpx.Response, code: str | None, detail: str | None) -> ProviderError:
    status = response.status_code
    error: ProviderError
    if status == 429:
        error = RateLimited(
            PROVIDER,
            _message("rate limited", detail),
            retry_after=retry_after_seconds(response),
            **_ids(response, code or "tooManyRequests"),
        )
    elif status >= 500:
        error = ProviderUnavailable(PROVIDER, _message("server error", detail), **_ids(response, code))
    elif status in (401, 403):
        error = ReauthRequired(PROVIDER, _message("access refused", detail), **_ids(response, code))
    else:
        error = ProviderError(PROVIDER, _message("request refused", detail), **_ids(response, code))
    return _logged(response, error)


def _logged(response: httpx.Response, error: ProviderError) -> ProviderError:
    log.warning(
        "ponto.error",
        extra={
            "status": response.status_code,
            "code": error.code,
            "request_id": error.request_id,
            "error_type": type(error).__name__,
        },
    )
    return error


def _ids(response: httpx.Response, code: str | None) -> dict[str, Any]:
    return {"code": code, "status": response.status_code, "request_id": request_id(response)}


def _message(summary: str, detail: str | None) -> str:
    return f"{summary}: {detail}" if detail else summary


def _first_api_error(response: httpx.Response) -> tuple[str | None, str | None]:
    """Ponto's `errors[0].code` and `.detail`, when the body is a JSON:API error document."""
    body = _json_object(response)
    errors = body.get("errors") if body else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return None, None
    return _text(errors[0].get("code")), _text(errors[0].get("detail"))


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content or b"null")
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _text(value: Any) -> str | None:
    """A short printable string from the provider (never trusted to be short or clean)."""
    if not isinstance(value, str) or not value.strip():
        return None
    cleaned = "".join(ch if ch.isprintable() else " " for ch in value.strip())
    return cleaned[:MAX_DETAIL]
