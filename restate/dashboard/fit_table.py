"""A rich table that fits the width it is drawn at: optional columns hidden, identifiers never wrapped.

Shared by the dashboard and the CLI. It picks its columns when rendered, for the width of the console
(or Live display) drawing it, so a narrow terminal or a pipe (80 columns) gets a table that fits instead
of one whose headers rich squeezes to a letter and whose ids it folds over several lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text, TextType

from restate.dashboard.columns import Column, Layout, least_width, overhead, plan

Cell = TextType | int | float | None  # None prints as "-"


@dataclass
class _Row:
    cells: list[Text]
    style: str | None
    end_section: bool


def _text(cell: Cell) -> Text:
    if cell is None:
        return Text("-")
    return cell.copy() if isinstance(cell, Text) else Text(str(cell))


class FitTable:
    """Rows under Columns; drawn as a rich Table with the columns that fit (every column when `wide`)."""

    def __init__(self, columns: Sequence[Column], title: str | None = None, wide: bool = False) -> None:
        self.columns = list(columns)
        self.title = title
        self.wide = wide  # every column at its natural width: the caller gives it a console wide enough
        self._rows: list[_Row] = []

    def add_row(self, *cells: Cell, style: str | None = None, end_section: bool = False) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self._rows.append(_Row([_text(cell) for cell in cells], style, end_section))

    def add_rows(self, rows: Iterable[Sequence[Cell]]) -> None:
        for row in rows:
            self.add_row(*row)

    def _natural(self) -> list[int]:
        """Each column's width with nothing wrapped."""
        return [
            max([cell_len(c.header), *(cell_len(line) for r in self._rows for line in r.cells[i].plain.split("\n"))])
            for i, c in enumerate(self.columns)
        ]

    def _least(self, natural: list[int]) -> list[int]:
        words = [max((cell_len(w) for r in self._rows for w in r.cells[i].plain.split()), default=0)
                 for i in range(len(self.columns))]  # fmt: skip
        return [least_width(c, natural[i], words[i]) for i, c in enumerate(self.columns)]

    def layout(self, width: int) -> Layout:
        natural = self._natural()
        return plan(self.columns, natural, self._least(natural), width, self.wide)

    def hidden(self, width: int) -> list[str]:
        """Headers of the columns not drawn at `width`."""
        shown = set(self.layout(width).shown)
        return [c.header for i, c in enumerate(self.columns) if i not in shown]

    def natural_width(self) -> int:
        """The width of the table with every column and nothing wrapped."""
        return overhead(len(self.columns)) + sum(self._natural())

    def build(self, width: int) -> Table:
        """The rich Table drawn at `width`."""
        layout = self.layout(width)
        table = Table(title=self.title, title_justify="left", header_style="bold")
        for i in layout.shown:
            column = self.columns[i]
            table.add_column(
                column.header,
                justify=column.justify,  # type: ignore[arg-type]  # one of rich's JustifyMethod names
                no_wrap=column.ident and layout.fits,  # when nothing fits, folding beats cutting an id
                overflow="fold",
                max_width=layout.widths.get(i),
            )
        for row in self._rows:
            table.add_row(*(row.cells[i] for i in layout.shown), style=row.style, end_section=row.end_section)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        natural = self.natural_width()
        return Measurement(natural if self.wide else min(natural, options.max_width), natural)
