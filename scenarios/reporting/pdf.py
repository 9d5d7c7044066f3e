"""Print a report's HTML to an A4 PDF with headless Chromium, and look at the pages.

Chromium honours the page's ``@page { size: A4 }`` and margins, embeds the CJK glyphs (the text
stays extractable with ``pdftotext``) and draws the embedded pictures. :func:`pdf_pages`
rasterises the printed pages with poppler's ``pdftoppm`` (Debian ``poppler-utils``) for render
checks, and :func:`pdf_text` extracts the text with ``pdftotext``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tim.errors import TwinError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def print_pdf(html: str | Path, pdf: str | Path, *, timeout: float = 180.0) -> Path:
    """Print the HTML file ``html`` to ``pdf`` (A4, as its CSS says) with headless Chromium.

    Raises :class:`tim.errors.TwinError` when no Chromium is installed or printing fails; the
    HTML report stays the reference either way.
    """
    html, pdf = Path(html), Path(pdf)
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        raise TwinError("PDF needs Chromium (apt-get install chromium); the HTML report is "
                        "written")
    with tempfile.TemporaryDirectory(prefix="twin-chromium-") as profile:
        command = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--no-first-run", "--no-pdf-header-footer",
                   f"--user-data-dir={profile}", "--virtual-time-budget=10000",
                   f"--print-to-pdf={pdf.resolve()}", html.resolve().as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        raise TwinError(f"Chromium could not print {html} to PDF: {done.stderr[-500:]}")
    return pdf


def pdf_pages(pdf: str | Path, dpi: int = 40) -> list[np.ndarray]:
    """The PDF's pages as RGB arrays (rows, cols, 3; uint8) at ``dpi`` (needs pdftoppm)."""
    from PIL import Image

    if shutil.which("pdftoppm") is None:
        raise TwinError("page images need pdftoppm (apt-get install poppler-utils)")
    with tempfile.TemporaryDirectory(prefix="twin-pages-") as tmp:
        subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), f"{tmp}/page"],
                       check=True, capture_output=True, timeout=300)
        files = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.split("-")[-1]))
        return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def pdf_text(pdf: str | Path) -> list[str]:
    """The text of each page (needs pdftotext)."""
    if shutil.which("pdftotext") is None:
        raise TwinError("text extraction needs pdftotext (apt-get install poppler-utils)")
    done = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, timeout=120)
    return done.stdout.decode("utf-8").split("\f")[:-1]


def content_box(page: np.ndarray, threshold: int = 245) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right) pixel bounds of what is not white on ``page``; None if
    the page is blank."""
    ink = (page < threshold).any(axis=2)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
