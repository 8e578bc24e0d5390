"""The sign table: per layer, the figures of the tensor the view names."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from gradtui import table
from gradtui.result import Entry, ProbeResult

TAG_VARIABLES = {"strong": "accent", "warn": "warning", "error": "error"}
"""Theme variables that colour the cells which tell the story."""


def tag_style(cell: table.Cell, colours: dict[str, str]) -> str:
    """A headline figure in the theme's accent, trouble in warning or error."""
    return f"bold {colours[TAG_VARIABLES[cell.tag]]}" if cell.tag else ""


PADDING = 1
"""Blank cells on each side of a column."""


class SignTable(Widget):
    """One row per layer; headline figures in the theme's accent, trouble in warning/error.
    Columns that do not fit the width are dropped whole, least telling first.

    Drawn as one text, fitted to the width it is drawn at: a DataTable took a third of
    the app's time per run (tens of milliseconds for 10 rows), and its columns, fitted
    on a Resize, could lag behind a new width."""

    COMPONENT_CLASSES = {"sign-table--header", "sign-table--even-row"}

    DEFAULT_CSS = """
    SignTable {
        height: auto;
        & > .sign-table--header { text-style: bold; background: $panel; }
        &:dark > .sign-table--even-row { background: $surface-darken-1 40%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._result: ProbeResult | None = None
        self._view = "weight"
        self._entries: list[Entry] | None = None
        self._width = 0

    def show(
        self, result: ProbeResult | None, view: str, entries: list[Entry] | None = None
    ) -> None:
        """Rows of `result` for `view`: `entries` (a page of them), or all."""
        self._result, self._view, self._entries = result, view, entries
        self.refresh(layout=True)

    def refit(self) -> None:
        """Fit the columns to the width, if it changed since they were last drawn."""
        if self.size.width != self._width:
            self.refresh()

    @property
    def fitted_width(self) -> int:
        """The width the columns were last drawn at."""
        return self._width

    def get_content_height(self, container, viewport, width: int) -> int:
        rows = self._cells()[1]
        return len(rows) + 1 if self._result is not None else 0

    def _cells(self) -> tuple[list[table.Column], list[list[table.Cell]]]:
        view = self._view if self._view in table.VIEW_COLUMNS else "weight"
        builtin = self._result is None or self._result.spec.builtin
        columns = table.columns(view, builtin)
        rows = table.rows(self._result, view, self._entries) if self._result is not None else []
        return columns, rows

    def _fitted(
        self, width: int
    ) -> tuple[list[table.Column], list[list[table.Cell]], list[int], list[int]]:
        """The columns, every cell, the width of each column, and the columns that fit."""
        columns, rows = self._cells()
        widths = table.widths(columns, rows)
        shown = table.fit(columns, rows, width, padding=2 * PADDING, gap=0)
        return columns, rows, widths, shown

    @property
    def shown_headers(self) -> list[str]:
        """The headers on screen, in order."""
        columns, _, _, shown = self._fitted(self.size.width)
        return [columns[i].header for i in shown]

    @property
    def cells(self) -> list[list[str]]:
        """The texts on screen, row by row, of the columns shown."""
        _, rows, _, shown = self._fitted(self.size.width)
        return [[row[i].text for i in shown] for row in rows]

    def render(self) -> Text:
        self._width = width = self.size.width
        columns, rows, widths, shown = self._fitted(width)
        colours = self.app.theme_variables
        pad = " " * PADDING
        out = Text(no_wrap=True, overflow="crop", end="")
        header = Text(style=self.get_component_rich_style("sign-table--header"), end="")
        for i in shown:
            header.append(pad + columns[i].align(columns[i].header, widths[i]) + pad)
        out.append_text(header)
        stripe = self.get_component_rich_style("sign-table--even-row")
        for n, cells in enumerate(rows):
            out.append("\n")
            line = Text(style=stripe if n % 2 == 0 else "", end="")
            for i in shown:
                line.append(pad)
                line.append(
                    columns[i].align(cells[i].text, widths[i]), style=tag_style(cells[i], colours)
                )
                line.append(pad)
            out.append_text(line)
        return out
