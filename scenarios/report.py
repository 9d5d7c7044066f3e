"""The comparison report (kept for callers of the first version): see
:mod:`scenarios.reporting` (the machinery) and :mod:`scenarios.reporting.comparison` (this
report's content)."""

from __future__ import annotations

from pathlib import Path

from scenarios.compare import Comparison
from scenarios.reporting import print_pdf, write_report as _write
from scenarios.reporting.comparison import comparison_report

__all__ = ["write_report", "print_pdf", "comparison_report"]


def write_report(comparison: Comparison, directory: Path, lang: str = "en") -> Path:
    """Write ``report.html`` (in ``lang``) into ``directory``; return its path."""
    html, _ = _write(comparison_report(comparison, lang), Path(directory) / "report")
    return html
