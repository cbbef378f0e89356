"""`cashbot backup`, `backup verify` (the restore drill) and `restore`, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import SystemClock
from bot.domain import Provider
from bot.features.audit.trail import AuditTrail
from bot.providers.connections import ConnectionService
from storage.crypto import SecretBox, generate_key
from storage.database import Database
from storage.models import Workspace
from storage.workspaces import ensure_workspace
from tests.harness import AUDIT_KEY, DatabaseFactory

KEY = generate_key()


async def cli(*args: str, database_url: str, keys: str = KEY, cwd: Path | None = None) -> tuple[int, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CASHBOT_ENCRYPTION_KEYS": keys,
        "CASHBOT_AUDIT_KEY": AUDIT_KEY,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def seed(database_url: str) -> None:
    database = Database(database_url, clock=SystemClock())
    async with database.write() as session:
        workspace = await ensure_workspace(session, "T1", timezone="Europe/Brussels", name="Acme")
    await ConnectionService(database, SecretBox([KEY]), clock=database.clock).save(
        workspace.id, Provider.PONTO, {"refresh_token": "rt"}, connected_by="U1"
    )
    for n in range(5):
        await AuditTrail(database, AUDIT_KEY, clock=database.clock).record(
            team_id="T1", actor="U1", action=f"view.cash.{n}"
        )
    await database.dispose()


@pytest.fixture
async def backup_file(database_url: str, tmp_path: Path) -> Path:
    await seed(database_url)
    code, output = await cli("backup", "--output", str(tmp_path / "backups"), database_url=database_url)
    assert code == 0, output
    (backup,) = [p for p in (tmp_path / "backups").iterdir() if not p.name.endswith(".manifest.json")]
    return backup


async def test_backup_passes_the_restore_drill(backup_file: Path, database_url: str) -> None:
    code, output = await cli("backup", "verify", str(backup_file), database_url=database_url)

    assert code == 0, output
    for check in ("row counts", "audit chains verify", "every encrypted value decrypts"):
        assert f"ok   {check}" in output
    assert "restore drill passed" in output


async def test_edited_manifest_or_file_fails_the_drill(backup_file: Path, database_url: str) -> None:
    manifest = backup_file.with_name(backup_file.name + ".manifest.json")
    data = json.loads(manifest.read_text())
    data["row_counts"]["workspace"] = 7
    manifest.write_text(json.dumps(data))

    code, output = await cli("backup", "verify", str(backup_file), database_url=database_url)

    assert code == 1 and "FAIL manifest signed" in output


async def test_corrupted_backup_fails_the_drill(backup_file: Path, database_url: str) -> None:
    with backup_file.open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00garbage\x00")

    code, output = await cli("backup", "verify", str(backup_file), database_url=database_url)

    assert code == 1 and "FAIL file matches its checksum" in output


async def test_lost_key_is_caught_by_the_drill(backup_file: Path, database_url: str) -> None:
    code, output = await cli(
        "backup", "verify", str(backup_file), database_url=database_url, keys=generate_key()
    )

    assert code == 1 and "FAIL every encrypted value decrypts" in output


async def test_restore_puts_the_data_back(
    backup_file: Path, databases: DatabaseFactory, tmp_path: Path
) -> None:
    if databases.is_postgres:
        target = await databases.empty_url()
        code, output = await cli("restore", str(backup_file), database_url=target)
        assert code == 1 and "--force" in output
        code, output = await cli("restore", str(backup_file), "--force", database_url=target)
    else:
        target = f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        code, output = await cli("restore", str(backup_file), database_url=target)
        again = await cli("restore", str(backup_file), database_url=target)
        assert again[0] == 1 and "--force" in again[1]

    assert code == 0, output
    restored = Database(target, clock=SystemClock())
    async with restored.read() as session:
        names = (await session.execute(select(Workspace.name))).scalars().all()
    report = await AuditTrail(restored, AUDIT_KEY, clock=restored.clock).verify()
    await restored.dispose()
    assert names == ["Acme"] and report.ok and report.rows >= 5


async def test_created_files_are_readable_by_their_owner_only(
    backup_file: Path, database_url: str, tmp_path: Path
) -> None:
    from tests.harness import postgres_admin_url

    folder = backup_file.parent
    manifest = backup_file.with_name(backup_file.name + ".manifest.json")
    assert folder.stat().st_mode & 0o777 == 0o700
    assert backup_file.stat().st_mode & 0o777 == 0o600
    assert manifest.stat().st_mode & 0o777 == 0o600
    if postgres_admin_url() is None:
        fresh = tmp_path / "new.db"
        old_umask = os.umask(0o022)  # what most servers have: new files 0644 unless the bot narrows them
        try:
            database = Database(f"sqlite+aiosqlite:///{fresh}", clock=SystemClock())
            await database.ping()
            await database.dispose()
        finally:
            os.umask(old_umask)
        assert fresh.stat().st_mode & 0o777 == 0o600


async def test_audit_export_csv_since_a_date(database_url: str) -> None:
    import csv
    import io

    await seed(database_url)
    code, output = await cli(
        "audit", "export", "--since", "2000-01-01", "--format", "csv", database_url=database_url
    )
    later, none = await cli("audit", "export", "--since", "2999-01-01", database_url=database_url)
    bad, message = await cli("audit", "export", "--since", "last month", database_url=database_url)

    assert code == 0, output
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [row["action"] for row in rows] == [f"view.cash.{n}" for n in range(5)]
    assert {row["team_id"] for row in rows} == {"T1"} and rows[0]["actor"] == "U1"
    assert (
        later == 0 and none.strip() == "occurred_at,team_id,actor,action,outcome,channel_id,detail,chain,seq"
    )
    assert bad != 0 and "YYYY-MM-DD" in message
