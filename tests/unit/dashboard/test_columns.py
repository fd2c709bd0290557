"""Tables that fit their width: which columns show, how wide the wrapping ones get, ids never cut or wrapped."""

from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console

from restate.dashboard.columns import Column, least_width, overhead, plan
from restate.dashboard.fit_table import FitTable

INV = "inv_1aFJvKXmN0BJ6T377FWppySuyYEopnG7G6"
COLUMNS = (
    Column("id", ident=True), Column("target", min_width=10), Column("status", ident=True),
    Column("created", ident=True, drop=1), Column("retries", drop=3, justify="right"),
    Column("last failure", min_width=20, drop=2),
)  # fmt: skip


def sample(wide: bool = False) -> FitTable:
    table = FitTable(COLUMNS, wide=wide)
    failure = "Exception: non-terminal failure, with a long explanation of what went wrong " * 2
    table.add_row(INV, "Counter/a-rather-long-object-key/add", "backing-off", "2026-11-21 15:05:51", 3, failure)
    table.add_row(INV.replace("1a", "1b"), "Greeter/greet", "running", "2026-11-21 15:05:52", 0, None)
    return table


def drawn(renderable: object, width: int) -> list[str]:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text().splitlines()


def test_plan_hides_the_highest_drop_first_and_keeps_the_rest_in_order() -> None:
    natural = [38, 36, 11, 19, 7, 150]
    least = [least_width(c, n, 0) for c, n in zip(COLUMNS, natural, strict=True)]
    assert least == [38, 10, 11, 19, 7, 20]
    assert plan(COLUMNS, natural, least, 80, wide=False).shown == [0, 1, 2]
    assert plan(COLUMNS, natural, least, 100, wide=False).shown == [0, 1, 2, 3]
    assert plan(COLUMNS, natural, least, 120, wide=False).shown == [0, 1, 2, 3, 5]
    assert plan(COLUMNS, natural, least, 124, wide=False).shown == [0, 1, 2, 3, 4, 5]
    assert plan(COLUMNS, natural, least, 80, wide=True).shown == [0, 1, 2, 3, 4, 5]
    squeezed = plan(COLUMNS, natural, least, 50, wide=False)
    assert squeezed.shown == [0, 1, 2] and not squeezed.fits


def test_plan_shares_the_spare_width_by_what_each_wrapping_column_lacks() -> None:
    columns = (Column("id", ident=True), Column("a"), Column("b"))
    layout = plan(columns, [20, 40, 10], [20, 1, 1], overhead(3) + 20 + 30, wide=False)
    assert layout.widths == {1: 1 + 23, 2: 1 + 5}  # 28 spare, 39 : 9 as they lack; the remainder to the neediest
    assert sum(layout.widths.values()) == 30


def test_every_width_fits_and_ids_stay_whole() -> None:
    required = overhead(3) + len(INV) + 10 + len("backing-off")  # id, target (min_width 10), status
    for width in range(required, 240, 3):
        lines = drawn(sample(), width)
        assert max(cell_len(line) for line in lines) <= width, width
        assert any(INV in line for line in lines), (width, lines)
        header = lines[1]
        for shown in ("id", "target", "status"):
            assert f" {shown} " in header, (width, header)


def test_at_80_columns_the_required_columns_show_and_the_rest_is_named() -> None:
    table = sample()
    lines = drawn(table, 80)
    assert [cell.strip() for cell in lines[1].split("┃")[1:-1]] == ["id", "target", "status"]
    assert table.hidden(80) == ["created", "retries", "last failure"]
    assert "Counter/a-rather-long-object-key/add".startswith(lines[3].split("│")[2].strip())  # wrapped, not cut


def test_wide_shows_every_column_unwrapped() -> None:
    table = sample(wide=True)
    lines = drawn(table, table.natural_width())
    assert max(cell_len(line) for line in lines) == table.natural_width()
    assert [cell.strip() for cell in lines[1].split("┃")[1:-1]] == [c.header for c in COLUMNS]
    assert any(INV in line and "Counter/a-rather-long-object-key/add" in line for line in lines)
    assert table.hidden(80) == []
    assert len(lines) == 2 + 2 + 2  # top border, header, separator, two one-line rows, bottom border


def test_a_row_must_have_a_cell_per_column() -> None:
    table = FitTable(COLUMNS)
    try:
        table.add_row(INV)
    except ValueError as exc:
        assert "1 cells for 6 columns" in str(exc)
    else:
        raise AssertionError("a short row was accepted")
