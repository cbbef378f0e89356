"""The `cashbot` command: serve, web, worker, migrate, keygen, rotate-keys, manifest, demo, …"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.app.early_stop import stop_cleanly_on_signals
from bot.app.logs import configure_logging
from bot.config import Settings
from bot.domain import Provider
from bot.errors import CashbotError, ConfigError, UserError

if TYPE_CHECKING:
    from bot.features.backups import DrillReport
    from bot.features.sync.runner import SyncResult


def _settings(args: argparse.Namespace) -> Settings:
    from bot.app.sentry import init_sentry

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    init_sentry(settings)
    return settings


def _database_ready(settings: Settings, *, need_schema: bool) -> None:
    """One line, not a traceback, when the database is unreachable, misplaced or never migrated."""
    from bot.app.preflight import check_database
    from bot.clock import SystemClock

    asyncio.run(check_database(settings.database_url, SystemClock(), need_schema=need_schema))


def cmd_keygen(args: argparse.Namespace) -> int:
    from storage.crypto import generate_key

    print(generate_key())
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from bot.app.manifest import build_manifest

    settings = Settings.from_env()
    # Slack refuses request URLs that are not https, so the default localhost URL is no manifest.
    if not os.environ.get("PUBLIC_URL") or not settings.public_url.startswith("https://"):
        raise ConfigError(
            "PUBLIC_URL",
            "must be the bot's public https:// address for a manifest Slack accepts",
            "set it, e.g. PUBLIC_URL=https://cashbot.example.com cashbot manifest",
        )
    print(json.dumps(build_manifest(settings), indent=2))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.clock import SystemClock
    from storage.migrate import head_revision, revisions, upgrade_sync

    if args.list:
        for revision, message in revisions():
            print(f"{revision}  {message}")
        return 0
    settings = _settings(args)
    _database_ready(settings, need_schema=False)
    before, after = upgrade_sync(settings.database_url, SystemClock(), args.to)
    where = "the newest schema" if after == head_revision() else f"revision {after or 'base (empty)'}"
    moved = "already at" if before == after else f"moved from {before or 'base (empty)'} to"
    print(f"database {moved} {where}")
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    from bot.app.process import rotate

    settings = _settings(args)
    settings.require_secrets()
    _database_ready(settings, need_schema=True)
    report = asyncio.run(rotate(settings))
    print(f"re-encrypted {report.total} values under the newest key", json.dumps(report.rotated))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app.process import serve

    settings = _settings(args)
    settings.require_web()
    # An embedded SQLite database is migrated by `serve` itself; anything else must already be.
    _database_ready(settings, need_schema=False)
    return serve(settings, with_worker=True)


def cmd_web(args: argparse.Namespace) -> int:
    from bot.app.process import serve

    settings = _settings(args)
    settings.require_web()
    _database_ready(settings, need_schema=False)
    return serve(settings, with_worker=False)


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.app.process import work

    settings = _settings(args)
    settings.require_secrets()
    _database_ready(settings, need_schema=False)
    return work(settings)


def cmd_sync(args: argparse.Namespace) -> int:
    from bot.app.process import sync_now
    from bot.features.sync.runner import RunOutcome

    settings = _settings(args)
    settings.require_secrets()
    _database_ready(settings, need_schema=True)
    results = asyncio.run(sync_now(settings, team_id=args.workspace, provider=args.provider))
    for result in results:
        print(_sync_line(result))
    if not results:
        print("no active connections to sync")
    fine = (RunOutcome.SUCCESS, RunOutcome.PARTIAL, RunOutcome.ALREADY_RUNNING)
    return 0 if all(r.outcome in fine for r in results) else 1


def _count(number: int, noun: str) -> str:
    """`1 chain`, `3,604 rows`: the CLI speaks English, so English grouping and plurals."""
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _sync_line(result: SyncResult) -> str:
    outcome = result.outcome.replace("_", " ")
    line = (
        f"{result.provider.value.capitalize()} for workspace {result.workspace_id}: {outcome};"
        f" {_count(result.fetched, 'record')} fetched, {_count(result.written, 'row')} stored,"
        f" {_count(result.api_calls, 'API call')}"
    )
    return line + (f"; error: {result.error_code}" if result.error_code else "")


def cmd_audit(args: argparse.Namespace) -> int:
    from bot.app.process import export_audit, verify_audit

    settings = _settings(args)
    settings.require_secrets()
    _database_ready(settings, need_schema=True)
    if args.action == "export":
        if args.since is None:
            raise UserError("usage: cashbot audit export --since YYYY-MM-DD [--format csv]")
        sys.stdout.write(asyncio.run(export_audit(settings, _date(args.since))))
        return 0
    report = asyncio.run(verify_audit(settings))
    for broken in report.broken:
        print(f"chain {broken.chain}: row {broken.seq} (id {broken.row_id}) {broken.reason}")
    state = "intact" if report.ok else "TAMPERED"
    print(f"{_count(report.rows, 'audit event')} in {_count(report.chains, 'chain')}: {state}")
    return 0 if report.ok else 1


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--since {value!r} is not a date; use YYYY-MM-DD") from None


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.app.process import backup_now, verify_backup

    settings = _settings(args)
    settings.require_secrets()
    if args.action == "verify":
        if not args.file:
            raise UserError("usage: cashbot backup verify FILE")
        return _print_drill(asyncio.run(verify_backup(settings, Path(args.file))))
    _database_ready(settings, need_schema=True)
    target, manifest = asyncio.run(backup_now(settings, Path(args.output)))
    rows = sum(manifest.row_counts.values())
    print(f"backup written: {target} ({rows} rows) with its manifest {target.name}.manifest.json")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from bot.app.process import restore_backup

    settings = _settings(args)
    settings.require_secrets()
    report = asyncio.run(restore_backup(settings, Path(args.file), force=args.force))
    _print_drill(report)
    print(f"restored {args.file} into DATABASE_URL")
    return 0


def _print_drill(report: DrillReport) -> int:
    for check in report.checks:
        print(
            f"{'ok  ' if check.ok else 'FAIL'} {check.name}" + (f" ({check.detail})" if check.detail else "")
        )
    print(f"restore drill {'passed' if report.ok else 'FAILED'} in {report.seconds:.1f}s")
    return 0 if report.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.config import demo_logging
    from bot.demo.run import run_demo

    configure_logging(*demo_logging())
    return asyncio.run(run_demo(args.output))


COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], str]] = {
    "serve": (
        cmd_serve,
        "web and worker in one process; migrates an embedded SQLite database first",
    ),
    "web": (cmd_web, "the Slack-facing web process only (scale these out)"),
    "worker": (cmd_worker, "the scheduler: syncs, digests, alerts (one leader among many)"),
    "migrate": (
        cmd_migrate,
        "apply database migrations; `--to REVISION` upgrades or downgrades to that one",
    ),
    "keygen": (cmd_keygen, "print a new encryption key"),
    "rotate-keys": (cmd_rotate_keys, "re-encrypt every stored secret under the newest key"),
    "manifest": (cmd_manifest, "print the Slack app manifest for PUBLIC_URL"),
    "sync": (cmd_sync, "sync connections now (all, or one workspace/provider)"),
    "audit": (cmd_audit, "audit verify: check the audit trail's hash chains"),
    "backup": (
        cmd_backup,
        "write a backup and its signed manifest; `backup verify FILE` runs the restore drill",
    ),
    "restore": (cmd_restore, "verify a backup, then restore it into DATABASE_URL"),
    "demo": (cmd_demo, "run the whole bot against built-in simulators; no account needed"),
}


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="cashbot", description="cashbot: cash and receivables in Slack.")
    sub = root.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (func, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(func=func)
        if name == "demo":
            command.add_argument("--output", default="demo-output", help="folder for the Block Kit JSON")
        if name == "sync":
            command.add_argument("--workspace", metavar="TEAM_ID", help="only this Slack team id")
            command.add_argument(
                "--provider", choices=[provider.value for provider in Provider], help="only this provider"
            )
        if name == "backup":
            command.add_argument(
                "action", nargs="?", choices=["verify"], help="verify FILE: the restore drill"
            )
            command.add_argument("file", nargs="?", help="the backup file to verify")
            command.add_argument("--output", default="backups", help="folder for new backups")
        if name == "migrate":
            command.add_argument(
                "--to", default="head", metavar="REVISION", help="a revision id, head (default) or base"
            )
            command.add_argument("--list", action="store_true", help="print every revision, oldest first")
        if name == "restore":
            command.add_argument("file", help="a backup written by `cashbot backup`")
            command.add_argument("--force", action="store_true", help="replace the existing database")
        if name == "audit":
            command.add_argument(
                "action", choices=["verify", "export"], help="verify: walk every chain; export: CSV"
            )
            command.add_argument("--since", help="export: events on or after this date (YYYY-MM-DD)")
            command.add_argument("--format", choices=["csv"], default="csv", help="export format")
    return root


LONG_RUNNING = ("serve", "web", "worker")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] and arguments[0] in LONG_RUNNING:
        stop_cleanly_on_signals()
    args = parser().parse_args(arguments)
    try:
        return int(args.func(args))
    except ConfigError as error:
        print(f"cashbot: {error}", file=sys.stderr)
        return 2
    except CashbotError as error:
        print(f"cashbot: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
