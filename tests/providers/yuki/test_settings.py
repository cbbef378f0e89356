"""A connection's Yuki settings: stored values are read tolerantly, typed values strictly."""

from __future__ import annotations

import pytest

from bot.errors import UserError
from bot.providers.yuki.plugin import YukiSettings


@pytest.mark.parametrize(
    "stored",
    [None, {}, {"bank_gl_prefixes": "55"}, {"bank_gl_prefixes": []}, {"bank_gl_prefixes": ["5x"]}],
)
def test_malformed_stored_settings_fall_back_to_the_belgian_default(stored: dict | None) -> None:
    assert YukiSettings.of(stored).bank_gl_prefixes == ("55", "57")


def test_stored_settings_are_kept() -> None:
    settings = YukiSettings.of({"bank_gl_prefixes": ["11", "10"], "currency": "USD"})

    assert (settings.bank_gl_prefixes, settings.currency) == (("11", "10"), "USD")
    assert YukiSettings.of(settings.as_dict()) == settings


@pytest.mark.parametrize(
    ("typed", "prefixes"), [("55, 57", ("55", "57")), ("550 570;570", ("550", "570")), ("", ("55", "57"))]
)
def test_typed_prefixes(typed: str, prefixes: tuple[str, ...]) -> None:
    assert YukiSettings.parse_prefixes(typed) == prefixes


@pytest.mark.parametrize("typed", ["bank", "55-57", ",".join(["5"] * 11)])
def test_unusable_prefixes_are_refused_with_an_example(typed: str) -> None:
    with pytest.raises(UserError, match="for example 55, 57"):
        YukiSettings.parse_prefixes(typed)
