"""A report as data: sections of blocks (text, key figures, tables, figures, code).

Every report of the product - comparison, calibration, assessment, review - is one
:class:`Report` built from these typed blocks, then rendered to HTML
(:func:`scenarios.reporting.html.render_html`) and printed to an A4 PDF
(:func:`scenarios.reporting.pdf.print_pdf`). Tests check the object, the HTML and the PDF
pages separately. Blocks hold text already in the report's language and numbers already
formatted (see :mod:`scenarios.i18n`), so rendering makes no decision.

Examples
--------
>>> report = build_report("Scenario comparison", [
...     Section("Summary", [Paragraph("Two scenarios."),
...                         KeyFigures([KeyFigure("Built-up area", "393 ha", "green")])])],
...     lang="en", subtitle="Sample town")
>>> [s.title for s in report.sections], report.figures()
(['Summary'], [])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Sequence, Union

#: Status colours, shared by tables, key figures and maps.
STATUS_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828",
                  "info": "#78909c"}
Status = Literal["green", "yellow", "red", "info", ""]


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text (plain; the renderer escapes it)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A list; each item may carry a status (a coloured dot before it)."""

    items: tuple[tuple[str, Status], ...]

    @classmethod
    def of(cls, items: Sequence[str | tuple[str, Status]]) -> Bullets:
        return cls(tuple((i, "") if isinstance(i, str) else (i[0], i[1]) for i in items))


@dataclass(frozen=True)
class KeyFigure:
    """One key number: its label, its formatted value (with unit), a status and a note
    (e.g. the threshold)."""

    label: str
    value: str
    status: Status = ""
    note: str = ""


@dataclass(frozen=True)
class KeyFigures:
    items: tuple[KeyFigure, ...]

    def __init__(self, items: Sequence[KeyFigure]):
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class Cell:
    """A table cell: formatted text, a status (coloured dot) and whether it is a number
    (right-aligned)."""

    text: str
    status: Status = ""
    numeric: bool = False
    note: str = ""


@dataclass(frozen=True)
class Table:
    """A table; ``columns`` are headings, each row a sequence of cells (str or Cell)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    title: str = ""
    note: str = ""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Cell | str]],
                 title: str = "", note: str = ""):
        width = len(columns)
        cells = tuple(tuple(c if isinstance(c, Cell) else Cell(str(c)) for c in row)
                      for row in rows)
        bad = [i for i, row in enumerate(cells) if len(row) != width]
        if bad:
            raise ValueError(f"table {title!r}: rows {bad[:5]} do not have {width} cells")
        object.__setattr__(self, "columns", tuple(columns))
        object.__setattr__(self, "rows", cells)
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "note", note)


@dataclass(frozen=True)
class LegendItem:
    """One legend entry, drawn in HTML under its figure (so the picture has no words and is
    drawn once for every language): a colour and its label; ``style`` is ``patch`` (a
    square), ``line`` or ``dashed``."""

    colour: str
    label: str
    style: Literal["patch", "line", "dashed"] = "patch"


@dataclass(frozen=True)
class Figure:
    """A picture (PNG bytes): a chart, a map or a 3D still, with its caption.

    ``kind`` lets tests find the maps; ``colours`` lists the legend's colours (hex) the picture
    must show, so a render check can look for them on the printed page. ``width`` is the share
    of the text width it takes (0.5: two side by side); ``legend`` is drawn under it.
    """

    png: bytes = field(repr=False)
    caption: str
    kind: Literal["map", "chart", "still"] = "chart"
    colours: tuple[str, ...] = ()
    width: float = 1.0
    legend: tuple[LegendItem, ...] = ()


@dataclass(frozen=True)
class Code:
    """Preformatted text (YAML, logs), wrapped at the page width, never clipped."""

    text: str
    title: str = ""


Block = Union[Paragraph, Bullets, KeyFigures, Table, Figure, Code]


@dataclass(frozen=True)
class Section:
    """A titled part of the report; ``new_page`` starts it on a new page."""

    title: str
    blocks: tuple[Block, ...]
    new_page: bool = True
    kind: str = ""

    def __init__(self, title: str, blocks: Sequence[Block], new_page: bool = True,
                 kind: str = ""):
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "blocks", tuple(blocks))
        object.__setattr__(self, "new_page", new_page)
        object.__setattr__(self, "kind", kind)


@dataclass(frozen=True)
class Report:
    """A whole report: its cover (title, subtitle, lines) and its sections, in one language."""

    title: str
    sections: tuple[Section, ...]
    lang: str
    subtitle: str = ""
    cover_lines: tuple[str, ...] = ()
    footer: str = ""

    def figures(self, kind: str | None = None) -> list[Figure]:
        """Every figure (of ``kind``), in order."""
        return [b for s in self.sections for b in s.blocks
                if isinstance(b, Figure) and (kind is None or b.kind == kind)]

    def section(self, kind: str) -> Section | None:
        """The first section of ``kind``."""
        return next((s for s in self.sections if s.kind == kind), None)


def build_report(title: str, sections: Sequence[Section], lang: str, *, subtitle: str = "",
                 cover_lines: Sequence[str] = (), footer: str = "") -> Report:
    """A :class:`Report` in ``lang`` (checked: a language the product speaks)."""
    from scenarios.i18n import check_language

    return Report(title, tuple(sections), check_language(lang), subtitle, tuple(cover_lines),
                  footer)
