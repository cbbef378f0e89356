"""Secrets at rest: MultiFernet over CASHBOT_ENCRYPTION_KEYS, each ciphertext bound to its purpose."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.errors import SecretUnreadable

PREFIX = "f1:"  # names the scheme, so another one can be introduced beside it later


def generate_key() -> str:
    """A new random Fernet key, as `cashbot keygen` prints it."""
    return Fernet.generate_key().decode()


class SecretBox:
    """Encrypts with the newest key, decrypts with any configured key.

    Fernet has no associated data, so the plaintext is wrapped with its purpose (table, column
    and owner); a ciphertext copied into another row or workspace refuses to decrypt there.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._primary = Fernet(keys[0].encode())
        self._all = MultiFernet([Fernet(key.encode()) for key in keys])

    def encrypt(self, plaintext: str, *, purpose: str) -> str:
        payload = json.dumps({"p": purpose, "v": plaintext}, separators=(",", ":")).encode()
        return PREFIX + self._all.encrypt(payload).decode()

    def decrypt(self, stored: str, *, purpose: str) -> str:
        payload = json.loads(self._open(stored, self._all))
        if payload.get("p") != purpose:
            raise SecretUnreadable(f"a stored secret belongs to another purpose than {purpose}")
        value = payload.get("v")
        if not isinstance(value, str):
            raise SecretUnreadable("a stored secret has no value")
        return value

    def encrypt_optional(self, plaintext: str | None, *, purpose: str) -> str | None:
        return None if plaintext is None else self.encrypt(plaintext, purpose=purpose)

    def decrypt_optional(self, stored: str | None, *, purpose: str) -> str | None:
        return None if stored is None else self.decrypt(stored, purpose=purpose)

    def rotate(self, stored: str) -> str:
        """The same secret re-encrypted under the newest key (purpose and timestamp kept)."""
        try:
            return PREFIX + self._all.rotate(self._body(stored)).decode()
        except InvalidToken:
            raise SecretUnreadable("a stored secret does not decrypt with the configured keys") from None

    def readable(self, stored: str) -> bool:
        """True when one of the configured keys decrypts this value (purpose not checked)."""
        try:
            self._open(stored, self._all)
        except SecretUnreadable:
            return False
        return True

    def is_current(self, stored: str) -> bool:
        """True when the newest key alone can read this value."""
        try:
            self._open(stored, self._primary)
        except SecretUnreadable:
            return False
        return True

    def _open(self, stored: str, fernet: Fernet | MultiFernet) -> bytes:
        try:
            return fernet.decrypt(self._body(stored))
        except InvalidToken:
            raise SecretUnreadable("a stored secret does not decrypt with the configured keys") from None

    @staticmethod
    def _body(stored: str) -> bytes:
        if not stored.startswith(PREFIX):
            raise SecretUnreadable("a stored secret has an unknown format")
        return stored[len(PREFIX) :].encode()


def one_time_token() -> str:
    """A URL-safe random token with 256 bits of entropy (links, OAuth state, CSRF)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """How a one-time token is stored: a SHA-256 digest, so a database leak cannot replay it."""
    return hashlib.sha256(token.encode()).hexdigest()
