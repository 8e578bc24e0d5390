"""The help screen: every key, and what each statistic means in plain words."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown

from gradtui import table

EXPLANATION = """\
## What the figures mean

For a Linear layer `z = W x + b`, the gradient of one weight is
`dL/dW[j,i] = delta_j * x_i`, where `delta_j = dL/dz_j` is neuron j's error signal.

- **+ / - / 0**: the share of the layer's weight gradients that are positive, negative
  or exactly zero. A layer that is 100.0% one sign can only move all its weights one way.
- **row coh** (row coherence): the share of neurons whose incoming weight gradients all
  share one sign. **Why sigmoid makes it 100%**: a sigmoid's outputs are all positive,
  so for one sample every `x_i > 0`, and row j of the gradient is `delta_j` times
  positive numbers: one sign per neuron. The neuron's weights can only all grow or all
  shrink in a step, so reaching a target that needs some up and some down takes a
  zig-zag path. A whole-layer histogram hides this (different neurons have deltas of
  different signs, so the layer looks mixed); row coherence shows it. tanh is
  zero-centred: its outputs have both signs, and row coherence falls to about 0%.
  Over a batch, a row mixes signs only where samples' deltas disagree.
- **|g|** and **|g|/|w|**: the gradient's size, and its size relative to the weights
  (how far a plain SGD step would move them). Falling from layer to layer toward the
  input means vanishing gradients; the gradient-flow view plots it on a log scale.
- **sat/dead**: units stuck where the activation is flat (sigmoid below 0.03 or above
  0.97, |tanh| above 0.97) pass back almost no gradient; ReLU outputs that are exactly 0
  pass back none.
- **in>=0**: the share of the layer's input entries that are >= 0. At 100% (after a
  sigmoid or a ReLU), one sample's gradient rows are one-signed: this measured figure,
  not the activation's name, is the cause the findings give. A gradient that sums over
  several samples or positions (a batch, a sequence, a convolution's positions) mixes
  signs where their deltas disagree, even then.
- **NaN/Inf**: non-finite entries are counted and left out of every other figure.

## Your own network

With a model file (the model field, or `--model`), rows are its parameters by their
qualified names: weights of 2 or more dims (rows over dim 0: a Linear's outputs, a
conv's output channels) in the weight and flow views and the sign map; biases and norm
scales in the bias view; every leaf module's output in the activation view. `/` narrows
the rows to names that contain a text; `n` and `p` page through long tables.
"""


KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}
"""Keys as the keyboard shows them, where Textual's names differ."""


class HelpScreen(ModalScreen[None]):
    """Keys and statistics; any of escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
    ]
    AUTO_FOCUS = "#help-body"
    """The text has focus from the start: pageup, pagedown, home, end, arrows, j and k
    scroll it at once."""

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self._screen = screen
        """The screen whose keys are listed (with the app's)."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(self._keys() + "\n" + EXPLANATION + self._columns())

    def action_scroll(self, where: str) -> None:
        getattr(self.query_one("#help-body"), f"scroll_{where}")(animate=False)

    def _keys(self) -> str:
        lines = ["# gradtui help", "", "## Keys", ""]
        for binding in [*self._screen.BINDINGS, *self.app.BINDINGS]:
            if isinstance(binding, Binding) and binding.description:
                keys = " or ".join(KEY_NAMES.get(k, k) for k in binding.key.split(","))
                lines.append(f"- `{keys}`: {binding.tooltip or binding.description}")
        lines.append("- `tab` / `shift+tab`: move between fields; `enter` in a field runs it")
        lines.append("- `ctrl+p`: command palette: presets, views, activations, actions")
        return "\n".join(lines) + "\n"

    def _columns(self) -> str:
        lines = ["", "## Table columns", ""]
        for view, columns in table.VIEW_COLUMNS.items():
            lines += ["", f"In the {table.VIEW_TITLES[view].split(' per ')[0]} view:", ""]
            lines += [f"- `{column.header}`: {column.meaning}" for column in columns]
        return "\n".join(lines) + "\n"
