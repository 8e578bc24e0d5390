"""The sign map view: one weight gradient, a character per block, by sign."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from gradtui.result import Entry, ProbeResult
from gradtui.sign_map import sign_map_lines
from gradtui.tui.widgets.lines import TextLines

MIN_HEIGHT = 12
"""Rows the map takes at least; the results pane scrolls when less is left."""
HINT = "[ ] layer  o sort"
"""The keys of the view, at the end of its legend."""
NO_RESULT = [Text("No result yet: press r to run the probe.")]
"""What the view says before the first result (one list: its strips are kept)."""
THEME_STYLES = {"+": "success", "-": "error", "mixed": "warning"}
"""The theme variable that colours each kind of cell."""


class SignMapView(TextLines):
    """The sign map of one weight of the result; the screen picks which, and the order."""

    DEFAULT_CSS = """
    SignMapView { height: 16; padding: 0 1; }
    """

    layer_index: reactive[int] = reactive(0)
    """The weight shown, 0-based, among the result's weights (the MLP's layers)."""
    sorted_rows: reactive[bool] = reactive(True)
    """Rows sorted by sign class (all +, all -, mixed) instead of in neuron order: at the
    start, since a line of the map covers several neurons whenever the layer has more
    rows than the pane, and in neuron order one-signed rows of both signs blur into
    mixed lines."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._result: ProbeResult | None = None
        self._drawn: tuple[object, ...] | None = None
        self._drawn_layer: Entry | None = None
        self._lines: list[Text] = []

    def show(self, result: ProbeResult | None) -> None:
        self._result = result
        if result is not None and self.layer_index >= len(result.weights):
            self.layer_index = len(result.weights) - 1
        self.refresh()

    def fit(self, available: int) -> None:
        """Take the rows the results pane leaves (at least MIN_HEIGHT)."""
        height = max(MIN_HEIGHT, available)
        if self.styles.height is None or self.styles.height.value != height:
            self.styles.height = height

    def step_layer(self, step: int) -> None:
        """The next (1) or previous (-1) weight, wrapping around."""
        if self._result is not None and self._result.weights:
            self.layer_index = (self.layer_index + step) % len(self._result.weights)

    @property
    def shown_layer(self) -> Entry | None:
        if self._result is None or not self._result.weights:
            return None
        weights = self._result.weights
        return weights[min(self.layer_index, len(weights) - 1)]

    def validate_layer_index(self, layer: int) -> int:
        return max(0, layer)

    def lines(self) -> list[Text]:
        layer = self.shown_layer
        if layer is None:
            return NO_RESULT
        key = (id(layer), self.sorted_rows, self.size, self.app.theme)
        if self._drawn != key or self._drawn_layer is not layer or not self._lines:
            # Summing blocks into cells takes a few ms for the largest maps: a render
            # with nothing new to draw reuses the last lines.
            colours = self.app.theme_variables
            self._lines = sign_map_lines(
                layer,
                self.size.width,
                self.size.height,
                sorted_rows=self.sorted_rows,
                position=self._position(layer),
                styles={kind: colours[name] for kind, name in THEME_STYLES.items()},
                hint=HINT,
            )
            self._drawn, self._drawn_layer = key, layer
        return self._lines

    def _position(self, entry: Entry) -> str:
        """Where the shown weight is among them: `/4` after a layer's number, else
        ` (2/6)`."""
        count = len(self._result.weights) if self._result is not None else 0
        if entry.label.isdigit():
            return f"/{count}"
        return f" ({min(self.layer_index, count - 1) + 1}/{count})"
