"""The monitoring's words in a language (the ``monitoring`` catalogue) and its severity colours,
shared by the reports and the dashboard (a light module: no plotting library is imported)."""

from __future__ import annotations

from scenarios.i18n import Translator

SEVERITY_COLOURS = {"critical": "#7b1fa2", "high": "#c62828", "medium": "#f9a825",
                    "low": "#90a4ae"}


def line_names(t: Translator) -> dict[str, str]:
    _ = t.gettext
    return {"ecological_red_line": _("Ecological protection red line"),
            "permanent_basic_farmland": _("Permanent basic farmland"),
            "urban_development_boundary": _("Urban development boundary"),
            "outside_urban_development_boundary": _("outside the urban development boundary"),
            "water_line": _("Water line (water / flood risk)")}


def severity_word(t: Translator, severity: str) -> str:
    _ = t.gettext
    return {"critical": _("critical"), "high": _("high"), "medium": _("medium"),
            "low": _("low"), "pass": _("pass"), "fail": _("fail"),
            "not checked": _("not checked")}.get(severity, severity)


def reason_words(t: Translator, reason: str) -> str:
    """A patch's reason (:func:`scenarios.monitoring.changes._severity`) in ``t``'s language."""
    _ = t.gettext
    return {"built-up land inside the ecological red line":
            _("built-up land inside the ecological red line"),
            "built-up land inside permanent basic farmland":
            _("built-up land inside permanent basic farmland"),
            "ecological land lost inside the ecological red line":
            _("ecological land lost inside the ecological red line"),
            "farmland lost inside permanent basic farmland":
            _("farmland lost inside permanent basic farmland"),
            "built-up land on a water line": _("built-up land on a water line"),
            "new built-up land outside the urban development boundary":
            _("new built-up land outside the urban development boundary"),
            "water lost on a water line": _("water lost on a water line"),
            "change outside the control lines' rules":
            _("change outside the control lines' rules")}.get(reason, reason)
