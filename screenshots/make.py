"""Screenshots of the real app, for README: SVG always, PNG where rsvg-convert exists.

    python screenshots/make.py

Each screen is the app itself, driven by keys, held steady as the snapshot tests hold it
(no device names, timings or blinking cursor), so the images change only when the app does.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from pathlib import Path
from unittest import mock

from textual.widgets import Input

from gradtui.spec import Spec, preset
from gradtui.tui.app import GradApp, make_app
from gradtui.tui.screens import probe

HERE = Path(__file__).parent

SCREENS = [
    # name, preset, terminal size, keys
    ("first-screen-80x24", "seed-v2.0", (80, 24), []),
    ("seed-v2.0-run", "seed-v2.0", (120, 40), ["escape", "r"]),
    ("seed-v3.0-tanh-run", "seed-v3.0", (120, 40), ["escape", "r"]),
    ("seed-v2.0-80x24-run", "seed-v2.0", (80, 24), ["escape", "r", "c"]),
    ("gradient-flow", "seed-v2.0", (120, 40), ["escape", "r", "f"]),
    ("activations", "seed-v2.0", (120, 40), ["escape", "r", "a"]),
    ("sign-map", "seed-v2.0", (120, 40), ["r", "m", "right_square_bracket"]),
    ("sign-map-tanh", "seed-v3.0", (120, 40), ["r", "m", "right_square_bracket"]),
    ("help", "seed-v2.0", (100, 40), ["escape", "question_mark"]),
    ("transformer-block", "examples/transformer_block.py", (120, 40), ["r"]),
    (
        "compare-sigmoid-tanh",
        "seed-v2.0",
        (120, 40),
        ["escape", "t", ("#field-task", "spiral"), ("#field-compare", "sigmoid,tanh"), "r"],
    ),
]
"""(name, preset or model file, terminal size, steps): a step is a key, or (field id,
value) to set."""


def steady() -> contextlib.ExitStack:
    """No clock in the status line, no device in the title, no blinking cursor."""
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(probe, "clock", lambda: 0.0))
    stack.enter_context(mock.patch.object(GradApp, "warm_up", lambda self: None))
    stack.enter_context(mock.patch.object(Input, "_toggle_cursor", lambda self: None))
    return stack


async def shoot(name: str, preset_name: str, size: tuple[int, int], keys: list) -> Path:
    if preset_name.endswith(".py"):
        spec = Spec(model=preset_name, device="cpu")
    else:
        spec = preset(preset_name).replace(device="cpu")
    app = make_app(spec)
    async with app.run_test(size=size) as pilot:
        for key in keys:
            if isinstance(key, tuple):
                field, value = key
                app.screen.query_one(field).value = value
                app.screen.set_focus(None)
            else:
                await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.pause()
        path = HERE / f"{name}.svg"
        path.write_text(app.export_screenshot(), encoding="utf-8")
    return path


def main() -> None:
    converter = shutil.which("rsvg-convert")
    for screen in SCREENS:
        with steady():
            svg = asyncio.run(shoot(*screen))
        print(f"wrote {svg}")
        if converter:
            png = svg.with_suffix(".png")
            # librsvg drops the no-break spaces that start a text run (a right-aligned
            # table cell, a centred title) unless told to keep every space.
            kept = svg.read_text().replace("<text ", '<text xml:space="preserve" ')
            subprocess.run([converter, "-o", str(png)], input=kept.encode(), check=True)
            print(f"wrote {png}")
    if not converter:
        print("no rsvg-convert (apt-get install librsvg2-bin): SVG only")


if __name__ == "__main__":
    main()
