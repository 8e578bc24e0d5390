"""App-wide messages: what the workers tell the UI thread."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from gradtui.result import ProbeResult


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
class DeviceKnown(Message):
    """torch is loaded and the default device is known."""

    device: str
