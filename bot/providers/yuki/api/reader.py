"""Reads SOAP answers with a hardened, streaming XML parser.

defusedxml refuses any DTD, entity declaration or external reference before it is expanded,
so a billion-laughs or XXE document fails at its first line. Records (`Item`, `GLAccount`, …)
are converted and dropped as they end, so a 20,000-item answer never becomes a full tree.
Records are matched by local name at any depth under the `…Result` element, in any namespace:
the embedded document's root is not reliably there (yuki.md §3.1).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, TypeVar
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from bot.errors import MalformedResponse
from bot.providers.yuki.api.faults import PROVIDER, Fault
from bot.providers.yuki.api.protocol import SOAP_NAMESPACES, Operation

T = TypeVar("T")
Convert = Callable[[Element], T]


@dataclass
class Answer(Generic[T]):
    """A SOAP answer: the converted records, the Result's own text, or the fault it carried."""

    records: list[T] = field(default_factory=list)
    result_text: str | None = None
    fault: Fault | None = None


@lru_cache(maxsize=4096)
def local_name(tag: object) -> str:
    """`{namespace}Name` → `Name` (cached: an answer repeats the same few tags many times)."""
    return str(tag).rpartition("}")[2]


def namespace(tag: object) -> str:
    text = str(tag)
    return text[1:].partition("}")[0] if text.startswith("{") else ""


def read_answer(body: bytes, operation: Operation, convert: Convert[T] | None = None) -> Answer[T]:
    """Parse a whole answer; MalformedResponse when it is not a complete, safe SOAP document."""
    try:
        answer: Answer[T] = _Walker(operation, convert).walk(body)
        if _needs_unwrapping(answer, operation, convert):
            # Some ASMX services return the embedded document as escaped text, not elements.
            answer.records = (
                _Walker(operation, convert, embedded=True).walk(_wrapped(answer.result_text or "")).records
            )
    except DefusedXmlException as error:
        raise MalformedResponse(
            PROVIDER, f"{operation.name}: the answer declares a DTD or entities ({type(error).__name__})"
        ) from None
    except ParseError as error:
        raise MalformedResponse(
            PROVIDER, f"{operation.name}: the answer is not well-formed XML ({error})"
        ) from None
    return answer


def _wrapped(text: str) -> bytes:
    """The escaped document under one synthetic root (it may be bare records without one)."""
    if text.startswith("<?xml"):
        text = text.partition("?>")[2]
    return b"<embedded>" + text.encode() + b"</embedded>"


def _needs_unwrapping(answer: Answer[T], operation: Operation, convert: Convert[T] | None) -> bool:
    return (
        convert is not None
        and operation.record is not None
        and not answer.records
        and answer.fault is None
        and (answer.result_text or "").startswith("<")
    )


class _Walker(Generic[T]):
    """One pass over a document with start/end events, keeping only the open elements."""

    def __init__(self, operation: Operation, convert: Convert[T] | None, *, embedded: bool = False) -> None:
        self.operation = operation
        self.convert = convert
        self.embedded = embedded
        self.result_name = f"{operation.name}Result"
        self.answer: Answer[T] = Answer()
        self.stack: list[Element] = []
        self.inside_result = embedded
        self.found_result = embedded

    def walk(self, data: bytes) -> Answer[T]:
        events = iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        for event, element in events:
            if event == "start":
                self._start(element)
            else:
                self._end(element)
            if self.answer.fault is not None:
                return self.answer
        if not self.found_result:
            raise MalformedResponse(PROVIDER, f"{self.operation.name}: the answer has no {self.result_name}")
        return self.answer

    def _start(self, element: Element) -> None:
        if not self.stack and not self.embedded:
            _check_envelope(element, self.operation)
        self.stack.append(element)
        if not self.found_result and local_name(element.tag) == self.result_name:
            self.found_result = self.inside_result = True

    def _end(self, element: Element) -> None:
        self.stack.pop()
        name = local_name(element.tag)
        if name == "Fault" and not self.embedded and namespace(element.tag) in SOAP_NAMESPACES:
            self.answer.fault = _read_fault(element)
        elif name == self.result_name and self.inside_result and not self.embedded:
            self.inside_result = False
            self.answer.result_text = (element.text or "").strip()
        elif self.inside_result and self.convert is not None and name == self.operation.record:
            self.answer.records.append(self.convert(element))
            if self.stack:
                self.stack[-1].remove(element)


def _check_envelope(root: Element, operation: Operation) -> None:
    if local_name(root.tag) != "Envelope" or namespace(root.tag) not in SOAP_NAMESPACES:
        raise MalformedResponse(PROVIDER, f"{operation.name}: the answer is not a SOAP envelope")


def _read_fault(element: Element) -> Fault:
    """faultcode/faultstring (SOAP 1.1) or Code/Value and Reason/Text (SOAP 1.2)."""
    code = text = ""
    for node in element.iter():
        name = local_name(node.tag)
        if name in ("faultcode", "Value") and not code:
            code = (node.text or "").strip()
        elif name in ("faultstring", "Text") and not text:
            text = (node.text or "").strip()
    return Fault(code=code, text=text or "no fault text")
