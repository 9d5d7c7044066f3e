"""The monitoring reports (changes, assessment, 双评价, review) as data rendered to HTML/PDF.

A report is a :class:`Report` (title, facts, sections of text, tables and map images), so tests
check the object and the HTML separately. One small template renders all four; printing to PDF
goes through the shared report machinery (:func:`scenarios.report.print_pdf`, headless
Chromium). Maps are PNG images embedded in the page (nearest-cell downsampling to at most
``MAP_PIXELS`` a side), so the report opens offline and prints the same.
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MAP_PIXELS = 700
STATUS_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828", "info": "#607d8b",
                  "critical": "#7b1fa2", "high": "#c62828", "medium": "#f9a825",
                  "low": "#607d8b", "pass": "#2e7d32", "fail": "#c62828"}


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, Any]]
    caption: str = ""
    status_column: str | None = None  # cells of this column are coloured by their value


@dataclass
class Section:
    heading: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)  # (caption, data URI)


@dataclass
class Report:
    title: str
    facts: dict[str, Any]
    sections: list[Section]
    notes: list[str] = field(default_factory=list)  # e.g. which inputs are derived stand-ins


def table(frame, columns: Sequence[str] | None = None, caption: str = "",
          status_column: str | None = None, limit: int | None = None) -> Table:
    """A :class:`Table` from a DataFrame (the first ``limit`` rows)."""
    columns = list(columns or frame.columns)
    part = frame[columns] if limit is None else frame[columns].head(limit)
    rows = [{k: _cell(v) for k, v in r.items()} for r in part.to_dict("records")]
    return Table(columns, rows, caption, status_column)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return ""
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return v


def map_image(values: np.ndarray, colours: dict[int, str], *, background: str = "#ffffff"
              ) -> str:
    """A categorical map as a PNG data URI: each code in ``colours`` painted its colour."""
    from PIL import Image

    step = max(1, int(np.ceil(max(values.shape) / MAP_PIXELS)))
    small = values[::step, ::step]
    lut = np.tile(np.array(_rgb(background), np.uint8), (256, 1))
    for code, colour in colours.items():
        lut[int(code)] = _rgb(colour)
    rgb = lut[small.astype(np.int64).clip(0, 255)]
    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def legend(colours: dict[int, str], names: dict[int, str]) -> str:
    """Legend text for a map (colour swatches are in the template's caption)."""
    return " · ".join(f"{names[c]}" for c in colours if c in names)


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def render(report: Report) -> str:
    """The report as one self-contained HTML page."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        str(resources.files("scenarios.monitoring") / "templates")), autoescape=True)
    return env.get_template("monitoring.html.j2").render(
        report=report, colours=STATUS_COLOURS,
        created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def write_report(report: Report, directory: Path, *, pdf: bool = False) -> list[str]:
    """Write ``report.html`` (and ``report.pdf``) into ``directory``; the files written."""
    html = directory / "report.html"
    html.write_text(render(report), encoding="utf-8")
    written = ["report.html"]
    if pdf:
        from scenarios.report import print_pdf  # the shared machinery's PDF printer

        print_pdf(html, directory / "report.pdf")
        written.append("report.pdf")
    return written
