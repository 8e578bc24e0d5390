"""The lab never imports Textual or rich; the spec and the app's module never import torch."""

from __future__ import annotations

import subprocess
import sys


def modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(run.stdout.split())


def test_lab_imports_neither_textual_nor_rich():
    loaded = modules_after(
        "import gradtui.lab, gradtui.lab.stats, gradtui.lab.probe, gradtui.lab.train,"
        " gradtui.lab.tasks, gradtui.lab.kernels, gradtui.spec, gradtui.result"
    )
    assert "torch" in loaded  # the check can see an import when there is one
    assert not {
        m for m in loaded if m.split(".")[0] in ("textual", "rich", "textual_plotext", "plotext")
    }


def test_spec_and_results_do_not_import_torch():
    loaded = modules_after("import gradtui.spec, gradtui.result, gradtui.insight, gradtui.table")
    assert "torch" not in loaded and "textual" not in loaded


def test_import_gradtui_loads_neither_torch_nor_sqlite_until_asked():
    assert not {"torch", "sqlite3"} & modules_after("import gradtui")
    # The reader and the readout serve the app and `gradtui history`: no torch there.
    loaded = modules_after("import gradtui; gradtui.open_run; import gradtui.history")
    assert "sqlite3" in loaded and "torch" not in loaded and "textual" not in loaded
    loaded = modules_after("import gradtui; gradtui.watch")
    assert "torch" in loaded and not {m for m in loaded if m.split(".")[0] in ("textual", "rich")}
