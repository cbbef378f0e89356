"""A browser for cashbot's Yuki connect page: opens the link, pastes the key, picks the books.

Used by the demo and the tests; it reads the page as a person would (the forms' fields),
keeps the page's cookies, and posts what a browser would post.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


class _Forms(HTMLParser):
    """Collects the inputs of a page: hidden fields, radio choices with their labels."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.choices: list[tuple[str, str]] = []
        self.action: str | None = None
        self._label: list[str] | None = None
        self._pending_choice: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = found.get("action")
        elif tag == "label":
            self._label = []
        elif tag == "input" and found.get("type") == "hidden":
            self.hidden[found.get("name", "")] = found.get("value", "")
        elif tag == "input" and found.get("type") == "text":
            self.texts[found.get("name", "")] = found.get("value", "")
        elif tag == "input" and found.get("type") == "radio":
            self._pending_choice = found.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label is not None:
            if self._pending_choice is not None:
                self.choices.append((self._pending_choice, " ".join("".join(self._label).split())))
            self._label, self._pending_choice = None, None


@dataclass
class Page:
    """A page the browser is on."""

    response: httpx.Response
    hidden: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    choices: list[tuple[str, str]] = field(default_factory=list)
    action: str | None = None

    @classmethod
    def of(cls, response: httpx.Response) -> Page:
        forms = _Forms()
        forms.feed(response.text)
        return cls(response, forms.hidden, forms.texts, forms.choices, forms.action)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def text(self) -> str:
        return self.response.text


class YukiConnectBrowser:
    """One browser session on the connect page (its own cookie jar)."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self.client = client or httpx.AsyncClient(timeout=30)
        self.page: Page | None = None
        self._url = ""

    async def aclose(self) -> None:
        await self.client.aclose()

    async def open(self, link: str) -> Page:
        self.page = Page.of(await self.client.get(link))
        self._url = str(self.page.response.url)
        return self.page

    async def submit_key(self, access_key: str) -> Page:
        return await self._post({"access_key": access_key})

    async def choose(self, administration_id: str | None = None, gl_prefixes: str | None = None) -> Page:
        """Pick an administration (by default the one the page pre-selects: the first); the
        ledger prefixes field is sent as the page filled it in unless `gl_prefixes` is given."""
        assert self.page is not None
        chosen = administration_id or (self.page.choices[0][0] if self.page.choices else "")
        fields = {"administration": chosen}
        if gl_prefixes is not None:
            fields["gl_prefixes"] = gl_prefixes
        return await self._post(fields)

    async def _post(self, fields: dict[str, str]) -> Page:
        assert self.page is not None, "open the link first"
        target = urljoin(self._url, self.page.action or "")
        sent = {**self.page.hidden, **self.page.texts, **fields}
        self.page = Page.of(await self.client.post(target, data=sent))
        return self.page


async def connect_through_browser(link: str, access_key: str, administration_id: str | None = None) -> Page:
    """Open the link, enter the key, choose the administration; the last page."""
    browser = YukiConnectBrowser()
    try:
        await browser.open(link)
        page = await browser.submit_key(access_key)
        if page.status != 200:
            return page
        return await browser.choose(administration_id)
    finally:
        await browser.aclose()
