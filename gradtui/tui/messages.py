"""What the workers tell the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from gradtui.result import ProbeResult, TrainResult


@dataclass
class ProbeFinished(Message):
    """A probe finished; its result replaces the one on screen."""

    result: ProbeResult
    elapsed: float
    """Seconds from the key press to the result, for the status line."""


@dataclass
class ProbeFailed(Message):
    """A probe raised; the last good result stays on screen."""

    reason: str


@dataclass
class TrainProgress(Message):
    """The runs so far (a snapshot); a newer one replaces a stale one in the queue, so a
    busy screen draws the latest step, not a backlog."""

    run_id: int
    runs: list[TrainResult]
    done: bool = False
    """The last message of the run: finished, or cancelled (see the runs' `cancelled`)."""

    def can_replace(self, message: Message) -> bool:
        # `message` is newer: it holds every step this one holds, or a newer run.
        return isinstance(message, TrainProgress)


@dataclass
class TrainFailed(Message):
    run_id: int
    reason: str
