"""Every way a user's model can fail ends in one line naming the source and the reason:
exit 2 from the CLI, the status line in the app, which keeps running."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gradtui.__main__ import main
from gradtui.spec import Spec
from gradtui.tui.app import make_app
from gradtui.tui.widgets.status import StatusLine

GOOD = """
import torch
from torch import nn

def model():
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))

def batch():
    return torch.randn(2, 4)
"""

# name -> (file text or None for no file, extra flags, what the line must say)
CASES = {
    "missing": (None, [], "no such file"),
    "not python": ("\x00\x01binary", [], "not Python source"),
    "syntax": ("def model(:\n    pass\n", [], "syntax error"),
    "no model": ("def batch():\n    return 1\n", [], "model"),
    "no batch": (GOOD.replace("def batch", "def other"), [], "batch"),
    "not a module": (GOOD.replace("return nn.Sequential(", "return (") , [], "nn.Module"),
    "forward raises": (GOOD.replace("randn(2, 4)", "randn(2, 5)"), [], "the forward raised"),
    "loss not scalar": (GOOD + "\ndef loss(output, batch):\n    return output\n", [], "loss"),
    "no gradient": (GOOD + "\ndef loss(output, batch):\n    return output.sum().detach()"
                    " + torch.zeros((), requires_grad=True)\n", [], "gradient"),
    "layers none": (GOOD, ["--layers", "nothing"], "matches no parameter"),
    "checkpoint": (GOOD, ["--checkpoint", "CKPT"], "does not match"),
}  # fmt: skip


def setup_case(tmp_path, name: str) -> list[str]:
    text, extra, _ = CASES[name]
    path = tmp_path / "net.py"
    if text is not None:
        path.write_bytes(text.encode("latin-1"))
    checkpoint = tmp_path / "other.pt"
    torch.save(nn.Linear(4, 7).state_dict(), checkpoint)
    extra = [str(checkpoint) if flag == "CKPT" else flag for flag in extra]
    return ["--model", str(path), "--device", "cpu", *extra]


@pytest.mark.parametrize("name", list(CASES))
def test_the_cli_says_what_failed_in_one_line(tmp_path, capsys, name):
    flags = setup_case(tmp_path, name)
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", *flags])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("gradtui: error: --")
    assert "Traceback" not in captured.err
    assert CASES[name][2] in lines[0], lines[0]
    if name not in ("layers none", "checkpoint"):
        assert str(tmp_path / "net.py") in lines[0] or "net.py" in lines[0]


def test_the_forward_error_names_the_users_line(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(GOOD.replace("randn(2, 4)", "randn(2, 5)"))
    with pytest.raises(SystemExit):
        main(["probe", "--model", str(path), "--device", "cpu"])
    line = capsys.readouterr().err
    assert "RuntimeError" in line and "shapes cannot be multiplied" in line


def test_debug_prints_the_users_traceback_first(tmp_path, capsys):
    path = tmp_path / "net.py"
    path.write_text(GOOD.replace("randn(2, 4)", "randn(2, 5)"))
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--model", str(path), "--device", "cpu", "--debug"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "shapes cannot be multiplied" in err
    assert err.splitlines()[-1].startswith("gradtui: error: --model:")


@pytest.mark.parametrize("flag", ["--sizes", "--activation", "--loss", "--batch-size"])
def test_the_mlp_flags_are_refused_with_model(tmp_path, capsys, flag):
    value = {"--sizes": "3,3", "--activation": "tanh", "--loss": "mse", "--batch-size": "2"}
    with pytest.raises(SystemExit) as exit_info:
        main(["probe", "--model", "net.py", flag, value[flag]])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{flag} describes the built-in MLP and does not apply to your own model" in err


@pytest.mark.parametrize("name", list(CASES))
async def test_the_app_shows_the_reason_and_keeps_the_last_result(tmp_path, name):
    flags = setup_case(tmp_path, name)
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    app = make_app(Spec(model=str(good), device="cpu"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        first = app.result
        assert first is not None and first.model.source == str(good)
        values = dict(zip(flags[::2], flags[1::2]))
        screen = app.screen
        screen.pane.set_field("model", values["--model"])
        if "--layers" in values:
            screen.pane.set_field("layers", values["--layers"])
        if "--checkpoint" in values:
            screen.pane.set_field("checkpoint", values["--checkpoint"])
        await pilot.pause()
        await pilot.press("r")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(app.screen.query_one(StatusLine).render())
        assert status.startswith("Probe failed: ")
        assert CASES[name][2] in status
        assert "the last result stays on screen" in status
        assert app.result is first  # nothing lost
        await pilot.press("r")  # and it keeps running
        await app.workers.wait_for_complete()
        assert app.is_running


@pytest.mark.parametrize("command", ["train", "compare"])
def test_train_and_compare_refuse_a_model_file(capsys, command):
    extra = ["--activations", "sigmoid,tanh"] if command == "compare" else []
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--model", "examples/mlp.py", *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"--model: {command} trains the built-in MLP on a task" in err
    assert "gradtui.watch" in err and len(err.splitlines()) == 1


async def test_the_train_view_is_refused_for_a_model_file_and_the_palette_offers_no_activation():
    from gradtui.tui.screens.probe import ProbeScreen

    app = make_app(Spec(model="examples/mlp.py", device="cpu"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, ProbeScreen)  # not pushed
        assert any("trains the built-in MLP" in n.message for n in app._notifications)
        titles = [command.name for command in app.screen.commands()]
        assert not any(title.startswith("Activation:") for title in titles)
        assert "Run" in titles
