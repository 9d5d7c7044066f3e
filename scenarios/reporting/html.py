"""A :class:`~scenarios.reporting.model.Report` as one self-contained HTML page.

Pictures are embedded (PNG data URIs) and nothing is loaded from the network, so the page
opens offline and prints the same anywhere. The page is laid out for A4 (``@page``), with
the Noto CJK fonts first so Chinese renders in the browser and in the PDF.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import jinja2

from scenarios.reporting.model import STATUS_COLOURS, Code, Figure, Report

TEMPLATE = "report_base.html.j2"


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        str(resources.files("scenarios") / "templates")), autoescape=True,
        trim_blocks=True, lstrip_blocks=True)
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    return env


def render_html(report: Report) -> str:
    """The report as an HTML document (a string).

    Examples
    --------
    >>> from scenarios.reporting.model import Paragraph, Section, build_report
    >>> html = render_html(build_report("报告", [Section("摘要", [Paragraph("a < b")])], "zh_CN"))
    >>> '<html lang="zh-CN">' in html, "a &lt; b" in html, "size: A4" in html
    (True, True, True)
    """
    return _environment().get_template(TEMPLATE).render(
        report=_rows(report), colours=STATUS_COLOURS, html_lang=report.lang.replace("_", "-"))


@dataclass(frozen=True)
class FigureRow:
    """Consecutive figures, laid out side by side as their widths allow."""

    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class CodeRow:
    """Consecutive code blocks, set in two columns (parameters are long and narrow)."""

    codes: tuple[Code, ...]


def _rows(report: Report) -> Report:
    """The report with runs of figures (and of code blocks) grouped for layout; the report
    object itself stays a flat list of blocks."""
    sections = []
    for section in report.sections:
        blocks: list = []
        for block in section.blocks:
            for kind, row in ((Figure, FigureRow), (Code, CodeRow)):
                if isinstance(block, kind):
                    if blocks and isinstance(blocks[-1], row):
                        blocks[-1] = row((*next(iter(vars(blocks[-1]).values())), block))
                    else:
                        blocks.append(row((block,)))
                    break
            else:
                blocks.append(block)
        sections.append(replace(section, blocks=tuple(blocks)))
    return replace(report, sections=tuple(sections))


def write_html(report: Report, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path`` (atomically) and return the path."""
    from tim.atomic import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(render_html(report), encoding="utf-8")
    return path
