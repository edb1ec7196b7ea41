"""DataTable filling shared by the screens that list things (start: presets and runs; compare: runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

if TYPE_CHECKING:  # pragma: no cover
    from textual.widgets import DataTable


def fill_table(table: DataTable, columns, rows: list[tuple[str, list]]) -> None:
    """Replace a table's contents, with column widths fixed from the data.

    Auto-width columns are measured on idle, after the first paint, and a table
    that keeps its size can keep showing the first (too narrow) rendering; fixed
    widths make the first paint right.
    """
    def cell_len(cell) -> int:
        return cell.cell_len if isinstance(cell, Text) else Text(str(cell)).cell_len

    widths = [max([minimum, len(label)] + [cell_len(cells[i]) + slack for _k, cells in rows])
              for i, (_key, label, minimum, slack) in enumerate(columns)]
    table.clear(columns=True)
    for (key, label, _m, _s), width in zip(columns, widths):
        table.add_column(Text(label), key=key, width=width)  # a Text: no markup parse (nor Rich's emoji table)
    for key, cells in rows:
        table.add_row(*(_plain_cell(c) for c in cells), key=key)


def _plain_cell(cell: Any) -> Any:
    """DataTable reads a str cell as markup: names and model ids from files or knobs must not be.
    (Not widgets.literal.literal: these cells are trusted text, only markup-shaped.)"""
    return Text(cell) if isinstance(cell, str) else cell
