"""`cashbot rotate-keys` moves every stored secret to the newest key while the bot keeps working."""

from __future__ import annotations

import asyncio
import os
import sys

from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select

from bot.clock import SystemClock
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.models import Base
from storage.rotation import encrypted_columns
from storage.slack_stores import EncryptedInstallationStore
from tests.harness import AUDIT_KEY


def installation(team: str, token: str) -> Installation:
    return Installation(
        app_id="A1",
        team_id=team,
        team_name=team,
        user_id="U1",
        bot_token=token,
        bot_id="B1",
        bot_user_id="UB",
        bot_scopes="commands",
        user_token=f"xoxp-user-{team}",
    )


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


async def all_encrypted_values(database: Database) -> list[str]:
    values = []
    async with database.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = encrypted_columns(table)
            if columns:
                for row in (await session.execute(select(*columns))).all():
                    values.extend(v for v in row if v is not None)
    return values


async def test_rotation_under_load_leaves_everything_readable_with_the_new_key_only(
    database_url: str,
) -> None:
    old, new = generate_key(), generate_key()
    database = Database(database_url, clock=SystemClock())
    old_store = EncryptedInstallationStore(database, SecretBox([old]), "client", "Europe/Brussels")
    for n in range(60):
        await old_store.async_save(installation(f"T{n:03d}", f"xoxb-old-{n}"))
    live_store = EncryptedInstallationStore(database, SecretBox([new, old]), "client", "Europe/Brussels")
    stop = asyncio.Event()
    errors: list[BaseException] = []

    async def keep_serving() -> int:
        served = 0
        while not stop.is_set():
            try:
                found = await live_store.async_find_installation(
                    enterprise_id=None, team_id=f"T{served % 60:03d}"
                )
                assert found is not None and found.bot_token == f"xoxb-old-{served % 60}"
                await live_store.async_save(installation("TLIVE", f"xoxb-live-{served}"))
            except BaseException as error:
                errors.append(error)
            served += 1
            await asyncio.sleep(0)
        return served

    load = asyncio.create_task(keep_serving())
    code, output = await run_cli(
        "rotate-keys",
        env={
            "DATABASE_URL": database_url,
            "CASHBOT_ENCRYPTION_KEYS": f"{new},{old}",
            "CASHBOT_AUDIT_KEY": AUDIT_KEY,
        },
    )
    stop.set()
    served = await load

    assert code == 0, output
    assert served > 0 and errors == []
    only_new = SecretBox([new])
    values = await all_encrypted_values(database)
    assert len(values) >= 60 * 3
    assert all(only_new.is_current(value) for value in values)
    new_store = EncryptedInstallationStore(database, only_new, "client", "Europe/Brussels")
    found = await new_store.async_find_installation(enterprise_id=None, team_id="T042")
    assert found is not None and found.bot_token == "xoxb-old-42" and found.user_token == "xoxp-user-T042"
    await database.dispose()


async def test_rotate_keys_without_keys_fails_with_one_line(database_url: str) -> None:
    code, output = await run_cli(
        "rotate-keys", env={"DATABASE_URL": database_url, "CASHBOT_ENCRYPTION_KEYS": ""}
    )

    assert code == 2
    assert output.strip().count("\n") == 0
    assert "CASHBOT_ENCRYPTION_KEYS" in output and "cashbot keygen" in output
