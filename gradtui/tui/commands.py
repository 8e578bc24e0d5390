"""The command palette (ctrl+p): each screen offers its own commands.

A screen lists them in a `commands()` method; `ScreenCommands`, in the screen's
`COMMANDS`, offers them, so the palette never acts on a screen out of sight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from textual.command import DiscoveryHit, Hit, Hits, Provider


class Command(NamedTuple):
    name: str
    help: str
    callback: Callable[[], object]


class ScreenCommands(Provider):
    """The commands of the screen the palette was opened on."""

    def _commands(self) -> Iterable[Command]:
        commands = getattr(self.screen, "commands", None)
        return commands() if commands is not None else ()

    async def discover(self) -> Hits:
        for command in self._commands():
            yield DiscoveryHit(command.name, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self._commands():
            if (score := matcher.match(command.name)) > 0:
                yield Hit(
                    score, matcher.highlight(command.name), command.callback, help=command.help
                )
