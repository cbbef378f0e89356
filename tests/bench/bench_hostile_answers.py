"""Benchmark: peak memory of the Yuki and Ponto readers on hostile answers, next to normal ones.

    .venv/bin/python -m tests.bench.bench_hostile_answers [--yuki-mb 60] [--ponto-mb 400]

The simulators serve, streamed, a Yuki answer of `--yuki-mb` MB of unknown elements and a Ponto
answer of `--ponto-mb` MB; each read runs in a fresh subprocess (the client alone, as the worker
holds it) and prints its peak RSS (`resource.getrusage(...).ru_maxrss`). The baselines are a
normal answer of each provider (3,000 outstanding items; the accounts list), read the same way
in the same run. The target is a peak under 150 MB whatever the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

from bot.errors import CashbotError
from bot.providers.ponto.api.transport import Transport, http_client
from bot.providers.yuki.api import YukiClient
from bot.sandbox.ponto import Failure, PontoSimulator
from bot.sandbox.server import serve_simulator
from bot.sandbox.yuki import SANDBOX_KEY, YukiSimulator

MB = 1024 * 1024


async def _read_yuki(url: str) -> str:
    async with YukiClient(url, SANDBOX_KEY) as yuki:
        admin = (await yuki.administrations())[0]
        answer = await yuki.outstanding_debtor_items(admin.id)
        return f"{len(answer.items)} items"


async def _read_ponto(url: str, token: str) -> str:
    async with http_client() as http:
        response = await Transport(http, url).send(
            "GET", "/accounts", headers={"Authorization": f"Bearer {token}"}
        )
        return f"HTTP {response.status_code}, {len(response.content)} bytes"


def child(args: list[str]) -> None:
    """One read in this process; prints outcome, seconds and peak RSS as one JSON line."""
    started = time.monotonic()
    try:
        if args[0] == "yuki":
            outcome = asyncio.run(_read_yuki(args[1]))
        else:
            outcome = asyncio.run(_read_ponto(args[1], args[2]))
    except CashbotError as error:
        outcome = f"{type(error).__name__}: {error}"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"outcome": outcome[:110], "seconds": time.monotonic() - started, "peak_mb": peak_mb}))


async def _measure(*args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.bench_hostile_answers",
        "--child",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _line(name: str, result: dict[str, Any]) -> None:
    print(f"{name:<34} peak RSS {result['peak_mb']:7.1f} MB  {result['seconds']:6.2f} s  {result['outcome']}")


async def main(yuki_mb: int, ponto_mb: int) -> None:
    async with (
        serve_simulator(YukiSimulator()) as yuki,
        serve_simulator(PontoSimulator(transactions=600)) as ponto,
    ):
        _line("yuki: normal answer (3,000 items)", await _measure("yuki", yuki.api_url))
        yuki.flood_bytes = yuki_mb * MB
        yuki.fail("unknown_flood", operation="OutstandingDebtorItems")
        _line(f"yuki: {yuki_mb} MB of unknown elements", await _measure("yuki", yuki.api_url))
        token = ponto.issue_access_token()
        _line("ponto: normal answer (accounts)", await _measure("ponto", ponto.base_url, token))
        ponto.fail("accounts", Failure("huge", size=ponto_mb * MB))
        _line(f"ponto: {ponto_mb} MB answer", await _measure("ponto", ponto.base_url, token))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        parser = argparse.ArgumentParser(
            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument("--yuki-mb", type=int, default=60)
        parser.add_argument("--ponto-mb", type=int, default=400)
        options = parser.parse_args()
        asyncio.run(main(options.yuki_mb, options.ponto_mb))
