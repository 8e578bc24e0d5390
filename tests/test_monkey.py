"""A monkey at the keyboard: random keys and terminal sizes never take the app down, and
it ends showing a result for the form's spec."""

from __future__ import annotations

import random

from gradtui.spec import Spec
from gradtui.tui.app import make_app

KEYS = [
    *"rvwbafmlceotj[]?",
    "escape",
    "enter",
    "tab",
    "shift+tab",
    "up",
    "down",
    "left",
    "right",
    "pageup",
    "pagedown",
    "home",
    "end",
    "space",
    "backspace",
    "ctrl+r",
    *"0123456789,",
]
"""Every key the app binds, and keys that edit a field; not q (it quits), not s and e
(they write files: their own tests cover them), not ctrl+p (the palette is modal)."""

SIZES = [(20, 10), (36, 24), (40, 12), (80, 24), (70, 20), (120, 40), (200, 60)]


async def test_random_keys_and_resizes_leave_the_app_running_and_true(tmp_path):
    rng = random.Random(20261129)
    spec = Spec(sizes=(12, 10, 8, 6), device="cpu")
    app = make_app(spec, output_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        for i in range(300):
            if i % 30 == 0:
                await pilot.resize_terminal(*rng.choice(SIZES))
            await pilot.press(rng.choice(KEYS))
            if i % 10 == 0:
                await pilot.pause()
        assert app.is_running and app.return_code is None
        # Back to the probe view, out of any field and any running training, then run.
        for _ in range(4):
            if type(app.screen).__name__ == "ProbeScreen":
                break
            await pilot.press("escape")
            await app.workers.wait_for_complete()
            await pilot.pause()
        app.screen.set_focus(None)
        await pilot.resize_terminal(120, 40)
        form = app.screen.query_one("ConfigPane")
        form.load(spec)  # whatever the monkey typed, a valid spec again
        await pilot.pause()
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running
        assert app.result is not None and app.result.spec == spec
        assert not app.screen.stale
