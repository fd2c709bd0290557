"""Which columns of a table to show at a given width, and how wide its wrapping columns may be (pure).

The arithmetic behind FitTable (restate/dashboard/fit_table.py), kept free of rich so that the CLI can
declare its columns without loading rich (`restate up` and its children never load it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One column of a table, and how it gives way at narrow widths."""

    header: str
    ident: bool = False  # an identifier (invocation id, timestamp, ...): never wrapped, shown whole or not at all
    drop: int = 0  # 0: always shown; at narrow widths the column with the highest `drop` is hidden first
    justify: str = "left"
    min_width: int = 0  # a wrapping column is never narrower than this (nor than its header)
    keep_words: bool = False  # a wrapping column only breaks between words (never inside one)


@dataclass
class Layout:
    """The columns shown (their indices) and the maximum widths of the wrapping ones among them."""

    shown: list[int]
    widths: dict[int, int] = field(default_factory=dict)
    fits: bool = True  # False: even the columns that cannot be hidden are too wide together


def overhead(columns: int) -> int:
    """Width a boxed table adds to its cells: one space of padding each side, a border around and between."""
    return 3 * columns + 1


def least_width(column: Column, natural: int, longest_word: int) -> int:
    """The narrowest a column may get: identifiers whole, its header whole, its words whole if asked."""
    if column.ident:
        return natural
    least = max(len(column.header), column.min_width)
    if column.keep_words:
        least = max(least, longest_word)
    return min(least, natural)


def plan(columns: Sequence[Column], natural: Sequence[int], least: Sequence[int], width: int, wide: bool) -> Layout:
    """The layout at `width`; `wide` shows every column at its natural width."""
    shown = list(range(len(columns)))
    if wide:
        return Layout(shown)

    def needed(indices: list[int]) -> int:
        return overhead(len(indices)) + sum(least[i] for i in indices)

    while needed(shown) > width:
        optional = [i for i in shown if columns[i].drop > 0]
        if not optional:
            return Layout(shown, fits=False)
        shown.remove(max(optional, key=lambda i: (columns[i].drop, i)))
    spare = width - needed(shown)
    demand = {i: natural[i] - least[i] for i in shown if not columns[i].ident and natural[i] > least[i]}
    if sum(demand.values()) <= spare:
        return Layout(shown)
    return Layout(shown, _share(spare, demand, least))


def _share(spare: int, demand: dict[int, int], least: Sequence[int]) -> dict[int, int]:
    """Gives each wrapping column its least width plus a share of `spare` in proportion to what it lacks."""
    total = sum(demand.values())
    extra = {i: spare * wants // total for i, wants in demand.items()}
    left = spare - sum(extra.values())
    for i in sorted(demand, key=lambda i: demand[i] - extra[i], reverse=True)[:left]:
        extra[i] += 1  # the rounding remainder: one cell each to the columns that lack the most
    return {i: least[i] + extra[i] for i in demand}
