"""`cashbot demo` runs the whole bot against the simulators with no account anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path


async def test_demo_prints_each_answer_and_writes_block_kit(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CASHBOT_", "PONTO_", "YUKI_", "DATABASE_"))
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.app.cli",
        "demo",
        "--output",
        str(tmp_path / "out"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(120):
        output, _ = await process.communicate()
    text = output.decode()

    assert process.returncode == 0, text
    assert "> /cashbot help" in text and "/cashbot connect" in text
    assert "Traceback" not in text
    assert "First Ponto sync: success" in text and "0 stored, 1 API call" in text
    saved = sorted((tmp_path / "out").glob("*.json"))
    assert saved, "the Block Kit of every answer is written to the output folder"
    assert all("blocks" in json.loads(p.read_text()) or "text" in json.loads(p.read_text()) for p in saved)
    assert "#finance at 08:00" in text and "Weekly cash digest" in text
    chart = tmp_path / "out" / "digest-chart.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "the digest's chart as the channel got it"
    assert not list(tmp_path.glob("*.db")), "the demo's database lives in a temporary folder"
