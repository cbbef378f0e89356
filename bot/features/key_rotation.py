"""Key rotation: re-encrypt every stored secret under the newest encryption key."""

from __future__ import annotations

import logging

from storage.crypto import SecretBox
from storage.database import Database
from storage.rotation import RotationReport, rotate_all

log = logging.getLogger(__name__)


async def rotate_keys(database: Database, box: SecretBox) -> RotationReport:
    """Rotate online; afterwards the older keys can be removed from CASHBOT_ENCRYPTION_KEYS."""
    report = await rotate_all(database, box)
    log.info("keys.rotated", extra={"values": report.total, "tables": report.rotated})
    return report
