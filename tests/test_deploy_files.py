"""Dockerfile, compose.yaml and requirements.lock: they parse, and use only what cashbot has.

Images cannot be built here; what they run is checked against the CLI, the configuration and
the install steps CI runs (README's test command).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from bot.app import cli
from bot.app.web import AccessLog
from bot.config import Settings

ROOT = Path(__file__).resolve().parents[1]
LOCK_INSTALL = "pip install --require-hashes -r requirements.lock"
NOT_OURS = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())  # type: ignore[no-any-return]


def cashbot_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("image", "").startswith("cashbot")}


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


class Recorder(dict[str, str]):
    """An environment that remembers which variables the configuration asked for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def read_by_configuration(environment: dict[str, str]) -> set[str]:
    recorder = Recorder(environment)
    Settings.from_env(recorder)  # also proves each value parses
    return recorder.asked


def substitute(value: str) -> str:
    return re.sub(r"\$\{[^}]*\}", "compose-secret", str(value))


def test_compose_runs_postgres_redis_migrate_two_webs_and_a_worker_each_limited() -> None:
    services = compose()["services"]
    commands = {name: s.get("command") for name, s in cashbot_services().items()}

    assert {"postgres", "redis"} <= set(services)
    assert sorted(map(str, commands.values())) == sorted(
        map(str, [["migrate"], ["web"], ["web"], ["worker"]])
    )
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert limits["cpus"] and re.fullmatch(r"\d+M", limits["memory"]), name
    for name, service in cashbot_services().items():
        if service["command"] != ["migrate"]:
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name


def test_every_command_the_files_run_is_a_cashbot_command() -> None:
    entrypoint, cmd = (
        shlex.split(line.split(maxsplit=1)[1].replace("[", "").replace("]", "").replace(",", " "))
        for line in dockerfile()
        if line.startswith(("ENTRYPOINT", "CMD"))
    )
    assert entrypoint == ["cashbot"] and cmd == ["serve"]
    for arguments in [cmd, *(s["command"] for s in cashbot_services().values())]:
        assert arguments[0] in cli.COMMANDS
        cli.parser().parse_args(arguments)  # exits on an unknown option


def environments() -> Iterator[tuple[str, dict[str, str]]]:
    lines = dockerfile()
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    pairs = {}
    for line in (line for line in final_stage if line.startswith("ENV ")):
        pairs.update(item.split("=", 1) for item in shlex.split(line[4:]))
    yield "Dockerfile", {k: v for k, v in pairs.items() if k not in NOT_OURS}
    for name, service in cashbot_services().items():
        yield name, {k: substitute(v) for k, v in service["environment"].items()}


@pytest.mark.parametrize(("where", "environment"), list(environments()), ids=lambda v: str(v)[:12])
def test_every_variable_the_files_set_is_read_by_the_configuration(
    where: str, environment: dict[str, str]
) -> None:
    assert set(environment) <= read_by_configuration(environment), where


def test_the_image_installs_the_lock_file_as_ci_does_and_checks_a_route_that_exists() -> None:
    runs = [line for line in dockerfile() if line.startswith("RUN ")]
    assert any(LOCK_INSTALL in line for line in runs)
    assert any("pip install --no-deps ." in line for line in runs)
    readme = (ROOT / "README.md").read_text()
    test_command = readme.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    assert LOCK_INSTALL in test_command and "pip install --no-deps -e ." in test_command
    stages = [line for line in dockerfile() if line.startswith("FROM ")]
    assert len(stages) >= 2 and all("slim" in line for line in stages)
    user = next(line for line in dockerfile() if line.startswith("USER "))
    assert user.split()[1] not in ("root", "0")
    healthcheck = next(line for line in dockerfile() if line.startswith("HEALTHCHECK"))
    route = re.search(r"/(healthz|readyz)\b", healthcheck)
    assert route and route.group(0) in AccessLog.KNOWN_ROUTES


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    wanted += project["optional-dependencies"]["sentry"]
    lock = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==([^ \\\n]+)", lock, re.MULTILINE))
    pins = {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in pins.items()}
    for line in wanted:
        requirement = Requirement(line)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{name} is not in requirements.lock: run scripts/lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} breaks {line}"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n\n", 1)[-1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
