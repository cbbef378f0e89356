"""What cashbot's slash commands are: the single source for help, usage lines and the manifest."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.providers import registry


@dataclass(frozen=True)
class SlashCommand:
    """A slash command as the Slack app manifest declares it."""

    command: str
    description: str
    usage_hint: str


# The product's slash commands: every one goes into the manifest, whether or not this build
# answers it yet, so the Slack app never needs re-creating when a command lands.
SLASH_COMMANDS = (
    SlashCommand("/cash", "Cash position across all bank accounts", "[public]"),
    SlashCommand("/overdue", "Overdue customer invoices", "[min-days] [customer words] [public]"),
    SlashCommand(
        "/cashbot",
        f"Connect {registry.joined_titles()}, status, digest, access, help",
        "help",
    ),
)


@dataclass(frozen=True)
class CommandSpec:
    """One command or /cashbot subcommand as users see it in help and usage messages."""

    usage: str
    summary: str
    financial: bool = False


@dataclass
class CommandCatalog:
    """The commands this build answers, in the order they were registered."""

    specs: list[CommandSpec] = field(default_factory=list)

    def add(self, spec: CommandSpec) -> CommandSpec:
        self.specs.append(spec)
        return spec

    def usage_lines(self, prefix: str = "") -> list[str]:
        return [spec.usage for spec in self.specs if spec.usage.startswith(prefix)]
