"""A second process for the token race test: N concurrent API calls through the token manager.

Run as `python -m tests.providers.ponto.token_race DATABASE_URL API_URL WORKSPACE_ID CALLS START_AT`
with the encryption key in CASHBOT_TEST_KEY. It waits until the wall clock reaches START_AT (so two
processes start together), makes CALLS concurrent `GET /accounts` calls on the stored, expired
token, and prints a JSON line: how many succeeded, the errors, and how many refreshes it did.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from bot.clock import SystemClock
from bot.domain import Provider
from bot.features.alerts import AlertService
from bot.providers.connections import ConnectionService
from bot.providers.ponto.plugin import PontoGateway, PontoTokens
from storage.crypto import SecretBox
from storage.database import Database
from tests.ponto_support import FAST, ponto_config


async def main(database_url: str, api_url: str, workspace_id: int, calls: int, start_at: float) -> None:
    database = Database(database_url, clock=SystemClock())
    connections = ConnectionService(
        database, SecretBox([os.environ["CASHBOT_TEST_KEY"]]), clock=database.clock
    )
    gateway = PontoGateway(ponto_config(api_url), policy=FAST, clock=SystemClock())
    tokens = PontoTokens(
        gateway, connections, AlertService(database, clock=database.clock), clock=SystemClock()
    )
    connection = await connections.find(workspace_id, Provider.PONTO)
    assert connection is not None
    client = tokens.client(connection)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    results = await asyncio.gather(*(client.accounts() for _ in range(calls)), return_exceptions=True)
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    print(
        json.dumps(
            {
                "ok": calls - len(errors),
                "errors": errors,
                "refreshes": tokens.for_connection(connection).refreshes,
            }
        )
    )
    await gateway.aclose()
    await database.dispose()


if __name__ == "__main__":
    url, api, workspace, count, start = sys.argv[1:6]
    asyncio.run(main(url, api, int(workspace), int(count), float(start)))
