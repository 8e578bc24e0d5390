"""Timings in a real terminal: gradtui spawned under a pseudo-terminal, as a user's
terminal would run it, timed until the bytes of a frame arrive.

    python benchmarks/terminal.py [--repeats 9]

The pilot (App.run_test) stops before the terminal receives a frame; this measures the
whole path: key to the terminal's read of the new status line.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import sys
import termios
import time

COLUMNS, ROWS = 120, 40


class Terminal:
    """gradtui in a pseudo-terminal; `wait_for` reads its output until a text appears."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
        self.started = time.perf_counter()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: gradtui itself
            os.execvpe(sys.executable, [sys.executable, "-m", "gradtui", *args], env)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.output = b""

    def wait_for(self, text: bytes, timeout: float = 60.0) -> float:
        """Seconds until `text` arrives in the output after this call began."""
        start, mark = time.perf_counter(), len(self.output)
        while time.perf_counter() - start < timeout:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.fd, 1 << 16)
                except OSError:
                    break
                if text in self.output[mark:]:
                    return time.perf_counter() - start
        raise TimeoutError(f"{text!r} did not arrive in {timeout} s")

    def drain(self, quiet: float = 0.3) -> None:
        """Read until the output has been quiet for `quiet` seconds."""
        while select.select([self.fd], [], [], quiet)[0]:
            try:
                self.output += os.read(self.fd, 1 << 16)
            except OSError:
                return

    def press(self, key: bytes) -> None:
        os.write(self.fd, key)

    def close(self) -> None:
        os.kill(self.pid, signal.SIGTERM)
        os.waitpid(self.pid, 0)


def first_paint() -> float:
    """Spawn to the first screen's text on the terminal."""
    terminal = Terminal("--preset", "seed-v2.0", "--device", "cpu")
    try:
        return terminal.wait_for(b"Press r to run") + (
            terminal.started and 0.0
        )
    finally:
        terminal.close()


def key_to_frame(args: list[str], repeats: int) -> list[float]:
    """`r` to the status line of the new result on the terminal (torch loaded and one
    probe run first); each run's status says its number of milliseconds."""
    terminal = Terminal(*args, "--device", "cpu")
    try:
        terminal.wait_for(b"Press r to run")
        terminal.press(b"r")
        terminal.wait_for(b"Ran in", timeout=120)
        terminal.drain(1.0)
        times = []
        for _ in range(repeats):
            terminal.press(b"r")
            times.append(terminal.wait_for(b"Ran in"))
            terminal.drain()
        return times
    finally:
        terminal.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    paints = [first_paint() for _ in range(3)]
    print(f"first paint (s): median {statistics.median(paints):.3f} of {paints}")
    for name, spec in (
        ("seed-v2.0", ["--preset", "seed-v2.0"]),
        ("16x1024", ["--sizes", ",".join(["1024"] * 17)]),
    ):
        times = key_to_frame(spec, args.repeats)
        print(f"key r to frame, {name} (s): median {statistics.median(times):.3f}")


if __name__ == "__main__":
    main()
