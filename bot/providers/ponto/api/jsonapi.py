"""JSON:API documents from Ponto, checked for shape before anything reads them.

Numbers are parsed as Decimal (money is never a float); NaN/Infinity, truncated bodies and
anything that is not `{"data": ..., "links": ..., "meta": ...}` raise MalformedResponse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from bot.providers.ponto.api.errors import malformed

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
EMPTY: Mapping[str, Any] = {}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(response: httpx.Response) -> Any:
    """The body as JSON with exact numbers; MalformedResponse for anything else."""
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise malformed(response, f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(response.content, parse_float=Decimal, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as error:
        raise malformed(response, f"not JSON ({type(error).__name__})") from None


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource object: its type, id and the three maps a model reads."""

    type: str
    id: str
    attributes: Mapping[str, Any]
    meta: Mapping[str, Any]
    relationships: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Document:
    """A parsed top-level document: one resource or a list, plus links and meta."""

    data: Resource | list[Resource]
    links: Mapping[str, Any]
    meta: Mapping[str, Any]
    response: httpx.Response

    def one(self) -> Resource:
        if not isinstance(self.data, Resource):
            raise malformed(self.response, "expected one resource, got a list")
        return self.data

    def many(self) -> list[Resource]:
        if not isinstance(self.data, list):
            raise malformed(self.response, "expected a list of resources, got one")
        return self.data

    def link(self, name: str) -> str | None:
        value = self.links.get(name)
        if value is None:
            return None
        if isinstance(value, Mapping):  # a link object {"href": ...}
            value = value.get("href")
        if not isinstance(value, str) or not value:
            raise malformed(self.response, f"links.{name} is not a URL")
        return value


def parse_document(response: httpx.Response, expected_type: str) -> Document:
    """Check the document's shape and that every resource is of `expected_type`."""
    body = decode_json(response)
    if not isinstance(body, dict) or "data" not in body:
        raise malformed(response, "not a JSON:API document (no data)")
    raw = body["data"]
    data: Resource | list[Resource]
    if isinstance(raw, list):
        data = [_resource(response, item, expected_type) for item in raw]
    else:
        data = _resource(response, raw, expected_type)
    return Document(data, _mapping(response, body, "links"), _mapping(response, body, "meta"), response)


def parse_embedded(response: httpx.Response, raw: Any, expected_type: str) -> Resource:
    """A resource object found inside another one's meta (e.g. meta.latestSynchronization)."""
    return _resource(response, raw, expected_type)


def _resource(response: httpx.Response, raw: Any, expected_type: str) -> Resource:
    if not isinstance(raw, dict):
        raise malformed(response, "a resource is not an object")
    kind, ident = raw.get("type"), raw.get("id")
    if kind != expected_type:
        raise malformed(response, f"unexpected resource type {str(kind)[:40]!r}, wanted {expected_type!r}")
    if not isinstance(ident, str) or not ident or len(ident) > 64:
        raise malformed(response, f"a {expected_type} has no usable id")
    return Resource(
        kind,
        ident,
        _mapping(response, raw, "attributes"),
        _mapping(response, raw, "meta"),
        _mapping(response, raw, "relationships"),
    )


def _mapping(response: httpx.Response, parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        return EMPTY
    if not isinstance(value, dict):
        raise malformed(response, f"{key} is not an object")
    return value


def related_id(resource: Resource, name: str) -> str | None:
    """The id in `relationships.<name>.data`, when there is one."""
    relation = resource.relationships.get(name)
    data = relation.get("data") if isinstance(relation, Mapping) else None
    ident = data.get("id") if isinstance(data, Mapping) else None
    return ident if isinstance(ident, str) and ident else None
