"""Reads SOAP answers with a hardened XML parser, fed chunk by chunk as the answer arrives.

defusedxml refuses any DTD, entity declaration or external reference before it is expanded,
so a billion-laughs or XXE document fails at its first line. The parser calls this module's
target directly: only the record being read (`Item`, `GLAccount`, …) and a SOAP fault are ever
built as elements; every other element is counted and forgotten as soon as it starts, so a
60 MB answer of unknown elements holds no more memory than a small one. Elements, depth and
records are capped. Records are matched by local name at any depth under the `…Result`
element, in any namespace: the embedded document's root is not reliably there (yuki.md §3.1).
A result sent as escaped text is fed to a second reader as its text arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, Literal, TypeVar
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from bot.errors import AnswerTooLarge, MalformedResponse, UnreadableRecords
from bot.providers.yuki.api.faults import PROVIDER, Fault
from bot.providers.yuki.api.protocol import SOAP_NAMESPACES, Operation

T = TypeVar("T")
Convert = Callable[[Element], T]
FEED_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ReadLimits:
    """What one answer may hold; beyond any of these it is refused while it is read."""

    max_elements: int = 2_000_000  # 20,000 items of 20 fields are 420,000
    max_depth: int = 64
    max_records: int = 200_000
    max_record_elements: int = 1_000
    max_text: int = 64 * 1024  # a Result's plain text (a session id); records' fields are inside those


DEFAULT_LIMITS = ReadLimits()


@dataclass
class Answer(Generic[T]):
    """A SOAP answer: the converted records, the Result's own text, or the fault it carried."""

    records: list[T] = field(default_factory=list)
    result_text: str | None = None
    fault: Fault | None = None
    declared_count: int | None = None
    """A count the result's wrapper declares (`Count`, `Total`, … attributes), when present."""
    content: int = 0
    """Elements inside the Result besides its one wrapper, and its non-blank text: 0 = empty."""


@lru_cache(maxsize=4096)
def local_name(tag: object) -> str:
    """`{namespace}Name` → `Name` (cached: an answer repeats the same few tags many times)."""
    return str(tag).rpartition("}")[2]


def namespace(tag: object) -> str:
    text = str(tag)
    return text[1:].partition("}")[0] if text.startswith("{") else ""


def read_answer(
    body: bytes, operation: Operation, convert: Convert[T] | None = None, limits: ReadLimits = DEFAULT_LIMITS
) -> Answer[T]:
    """Parse a whole answer; MalformedResponse when it is not a complete, safe SOAP document."""
    reader = AnswerReader(operation, convert, limits)
    for start in range(0, len(body), FEED_CHUNK):
        reader.feed(body[start : start + FEED_CHUNK])
    return reader.close()


class AnswerReader(Generic[T]):
    """Fed the answer's bytes as they arrive; `close()` gives the Answer or raises a typed error."""

    def __init__(
        self,
        operation: Operation,
        convert: Convert[T] | None,
        limits: ReadLimits = DEFAULT_LIMITS,
        *,
        embedded: bool = False,
    ) -> None:
        self._walker: _Walker[T] = _Walker(operation, convert, limits, embedded=embedded)
        self._parser = _parser(self._walker)

    def feed(self, chunk: bytes) -> None:
        with _typed(self._walker.operation):
            self._parser.feed(chunk)

    def close(self) -> Answer[T]:
        with _typed(self._walker.operation):
            self._parser.close()
            return self._walker.finish()


def _parser(target: object) -> DefusedXMLParser:
    return DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)


class _typed:
    """Turns the parser's own exceptions into MalformedResponse naming the operation."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> Literal[False]:
        name = self.operation.name
        if isinstance(error, DefusedXmlException):
            raise MalformedResponse(
                PROVIDER, f"{name}: the answer declares a DTD or entities ({type(error).__name__})"
            ) from None
        if isinstance(error, ParseError):
            raise MalformedResponse(
                PROVIDER, f"{name}: the answer is not well-formed XML ({error})"
            ) from None
        return False


class _Walker(Generic[T]):
    """The parser's target: counts every element, builds only records and faults."""

    def __init__(
        self, operation: Operation, convert: Convert[T] | None, limits: ReadLimits, *, embedded: bool = False
    ) -> None:
        self.operation = operation
        self.convert = convert if operation.record is not None else None
        self.limits = limits
        self.embedded = embedded
        self.result_name = f"{operation.name}Result"
        self.answer: Answer[T] = Answer()
        self.depth = 0
        self.elements = 0
        self.result_depth = -1  # depth of the Result element (the synthetic root when embedded)
        self.found_result = False
        self.wrapper_seen = False
        self.capture: TreeBuilder | None = None
        self.capture_depth = 0
        self.capture_elements = 0
        self.text: list[str] = []
        self.text_size = 0
        self.inner: AnswerReader[T] | None = None

    # ---- the parser's callbacks -----------------------------------------------------------
    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        self._check_limits()
        if self.depth == 1 and not self.embedded:
            _check_envelope(tag, self.operation)
        if self.capture is not None:
            self._capture_start(tag, attrs)
            return
        name = local_name(tag)
        if self.result_depth >= 0:
            if self.depth > self.result_depth + 1 or self.wrapper_seen:
                self.answer.content += 1
            elif not self.wrapper_seen:
                self.answer.declared_count = _declared_count(attrs)
            self.wrapper_seen = True  # the Result's first child may be the document's root
            if self.convert is not None and name == self.operation.record:
                self.answer.content += 1
                self._begin_capture(tag, attrs)
        elif (self.embedded and self.depth == 1) or (not self.found_result and name == self.result_name):
            self.found_result = True
            self.result_depth = self.depth
        elif name == "Fault" and not self.embedded and namespace(tag) in SOAP_NAMESPACES:
            self._begin_capture(tag, attrs)

    def end(self, tag: str) -> None:
        self.depth -= 1
        if self.capture is not None:
            self.capture.end(tag)
            self.capture_depth -= 1
            if self.capture_depth == 0:
                self._finish_capture()
            return
        if self.depth + 1 == self.result_depth and not self.embedded:
            self.result_depth = -1
            self._finish_text()

    def data(self, text: str) -> None:
        if self.capture is not None:
            self.capture.data(text)
        elif self.result_depth >= 0 and self.depth == self.result_depth and not self.embedded:
            self._result_text(text)

    def close(self) -> None:
        return None

    # ---- records and faults ---------------------------------------------------------------
    def _begin_capture(self, tag: str, attrs: dict[str, str]) -> None:
        self.capture = TreeBuilder()
        self.capture_depth = 0
        self.capture_elements = 0
        self._capture_start(tag, attrs)

    def _capture_start(self, tag: str, attrs: dict[str, str]) -> None:
        assert self.capture is not None
        self.capture_elements += 1
        if self.capture_elements > self.limits.max_record_elements:
            raise self._too_large(f"a record with more than {self.limits.max_record_elements} elements")
        self.capture.start(tag, attrs)
        self.capture_depth += 1

    def _finish_capture(self) -> None:
        assert self.capture is not None
        element = self.capture.close()
        self.capture = None
        if local_name(element.tag) == "Fault" and self.result_depth < 0:
            if self.answer.fault is None:
                self.answer.fault = _read_fault(element)
            return
        assert self.convert is not None
        if len(self.answer.records) >= self.limits.max_records:
            raise self._too_large(f"more than {self.limits.max_records} records")
        self.answer.records.append(self.convert(element))

    # ---- the Result's own text: a session id, or an escaped document ---------------------
    def _result_text(self, text: str) -> None:
        if self.inner is not None:
            self.inner.feed(text.encode())
            return
        if not self.text and not text.strip():
            return
        self.text.append(text)
        self.text_size += len(text)
        joined = "".join(self.text).lstrip()
        if self.convert is not None and joined.startswith("<") and not self.answer.records:
            self._begin_inner(joined)
        elif self.text_size > self.limits.max_text:
            raise self._too_large(f"a result text longer than {self.limits.max_text} characters")

    def _begin_inner(self, joined: str) -> None:
        # Some ASMX services return the embedded document as escaped text, not elements.
        if joined.startswith("<?xml"):
            if "?>" not in joined:
                return  # the declaration is still arriving
            joined = joined.partition("?>")[2]
        self.text, self.text_size = [], 0
        self.inner = AnswerReader(self.operation, self.convert, self.limits, embedded=True)
        self.inner.feed(b"<embedded>" + joined.encode())

    def _finish_text(self) -> None:
        if self.inner is not None:
            self.inner.feed(b"</embedded>")
            inner = self.inner.close()
            self.answer.records, self.answer.content = inner.records, inner.content
            self.answer.declared_count = inner.declared_count
            return
        text = "".join(self.text).strip()
        self.answer.result_text = text
        if text and self.convert is not None:
            self.answer.content += 1

    # ---- checks ---------------------------------------------------------------------------
    def _check_limits(self) -> None:
        if self.elements > self.limits.max_elements:
            raise self._too_large(f"more than {self.limits.max_elements} elements")
        if self.depth > self.limits.max_depth:
            raise self._too_large(f"elements nested deeper than {self.limits.max_depth}")

    def _too_large(self, what: str) -> AnswerTooLarge:
        return AnswerTooLarge(PROVIDER, f"{self.operation.name}: the answer has {what}", code="too_large")

    def finish(self) -> Answer[T]:
        if not self.found_result and self.answer.fault is None:
            raise MalformedResponse(PROVIDER, f"{self.operation.name}: the answer has no {self.result_name}")
        answer = self.answer
        if answer.fault is None and self.convert is not None and answer.content and not answer.records:
            raise UnreadableRecords(
                PROVIDER,
                f"{self.operation.name}: the result has content but no <{self.operation.record}> record",
                code="unreadable_records",
            )
        return answer


COUNT_ATTRIBUTES = ("Count", "count", "Total", "total", "TotalCount", "NumberOfItems", "ItemCount")


def _declared_count(attrs: dict[str, str]) -> int | None:
    """Yuki documents no count; tolerate the usual spellings, a non-number is no count."""
    for name in COUNT_ATTRIBUTES:
        value = attrs.get(name, "").strip()
        if value.isdigit() and len(value) < 10:
            return int(value)
    return None


def _check_envelope(tag: str, operation: Operation) -> None:
    if local_name(tag) != "Envelope" or namespace(tag) not in SOAP_NAMESPACES:
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
