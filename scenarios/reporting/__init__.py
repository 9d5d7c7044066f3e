"""One report machinery for every report of the product (comparison, calibration, assessment,
review): a report is data, rendered to HTML, then printed to an A4 PDF.

Use it in three calls::

    from scenarios.reporting import Section, Paragraph, Table, build_report, write_report
    report = build_report("Assessment", [Section("Summary", [Paragraph("...")])], lang="zh_CN")
    html, pdf = write_report(report, out_dir / "assessment", pdf=True)

Blocks (:mod:`scenarios.reporting.model`): Paragraph, Bullets, KeyFigures/KeyFigure, Table/Cell,
Figure (PNG bytes; :mod:`scenarios.reporting.figures` draws maps and charts with matplotlib,
:mod:`scenarios.reporting.still` 3D stills with pyvista) and Code (YAML, wrapped). Text is
given in the report's language (:func:`scenarios.i18n.translator`).
"""

from __future__ import annotations

from pathlib import Path

from scenarios.reporting.html import render_html, write_html
from scenarios.reporting.model import (STATUS_COLOURS, Bullets, Cell, Code, Figure, KeyFigure,
                                       KeyFigures, Paragraph, Report, Section, Table,
                                       build_report)
from scenarios.reporting.pdf import print_pdf

__all__ = ["STATUS_COLOURS", "Bullets", "Cell", "Code", "Figure", "KeyFigure", "KeyFigures",
           "Paragraph", "Report", "Section", "Table", "build_report", "render_html",
           "write_html", "print_pdf", "write_report"]


def write_report(report: Report, stem: str | Path, *, pdf: bool = False) -> tuple[Path,
                                                                                  Path | None]:
    """Write ``<stem>.html`` (and ``<stem>.pdf`` when ``pdf``); return both paths."""
    stem = Path(stem)  # "report.zh_CN" is a stem: append the suffix, never replace one
    html = write_html(report, stem.with_name(stem.name + ".html"))
    return html, (print_pdf(html, stem.with_name(stem.name + ".pdf")) if pdf else None)
