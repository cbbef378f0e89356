"""Secrets at rest: bound to their purpose, rotated online, unreadable without the key."""

from __future__ import annotations

import pytest

from bot.errors import SecretUnreadable
from storage.crypto import SecretBox, generate_key, one_time_token, token_hash


def test_round_trip_and_purpose_binding() -> None:
    box = SecretBox([generate_key()])
    sealed = box.encrypt("xoxb-not-a-real-token", purpose="slack.bot_token:T1")

    assert "xoxb" not in sealed
    assert box.decrypt(sealed, purpose="slack.bot_token:T1") == "xoxb-not-a-real-token"
    with pytest.raises(SecretUnreadable):
        box.decrypt(sealed, purpose="slack.bot_token:T2")


def test_wrong_key_fails_closed_without_leaking() -> None:
    sealed = SecretBox([generate_key()]).encrypt("secret", purpose="p")

    with pytest.raises(SecretUnreadable) as error:
        SecretBox([generate_key()]).decrypt(sealed, purpose="p")
    assert "secret" not in str(error.value).replace("stored secret", "")


def test_rotation_moves_values_to_the_newest_key() -> None:
    old, new = generate_key(), generate_key()
    sealed = SecretBox([old]).encrypt("value", purpose="p")
    both = SecretBox([new, old])

    rotated = both.rotate(sealed)

    assert not both.is_current(sealed)
    assert both.is_current(rotated)
    assert SecretBox([new]).decrypt(rotated, purpose="p") == "value"


def test_one_time_tokens_are_long_random_and_stored_hashed() -> None:
    tokens = {one_time_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(t) >= 43 for t in tokens)  # 256 bits, base64url
    sample = next(iter(tokens))
    assert token_hash(sample) != sample and len(token_hash(sample)) == 64
