"""The dashboard's language: one :class:`scenarios.i18n.Translator` per request, never per process.

A page is opened in a language by its address (``/?lang=zh_CN``); the answer sets a cookie
(:data:`LANG_COOKIE`) that the page's later requests (its layout, every callback) carry, so two
users of one server read two languages at once. Without either, the language given to
``twin serve --lang`` (the app's config :data:`CONFIG_KEY`) applies, else English.

Functions building components call :func:`ui` where they need words; outside a request (tests,
doctests) it is the default language. Words themselves live in the catalogues
(``scenarios/locale/<lang>/LC_MESSAGES/dashboard.po``).

Money: damage (euros at 2010 prices) is shown in the page's currency with
:func:`scenarios.i18n.damage_money`, the one conversion the reports use too.
"""

from __future__ import annotations

import math
from typing import Any

from scenarios.i18n import (DEFAULT_LANGUAGE, LANGUAGE_NAMES, LANGUAGES,
                            DAMAGE_UNIT, Translator, check_language, damage_money,
                            damage_unit_words, in_currency, translator)
from tim.errors import InputError

#: Cookie that carries a page's language to its callbacks.
LANG_COOKIE = "twin_lang"
#: Flask config key of the server's default language (``twin serve --lang``).
CONFIG_KEY = "TWIN_LANG"


def requested_language() -> tuple[str, str | None]:
    """The language of the current request and the unknown language asked for, if any.

    Order: ``?lang=`` of the address, the cookie, the server's default, English.
    """
    try:
        from flask import current_app, has_request_context, request
    except ImportError:  # pragma: no cover - flask comes with dash
        return DEFAULT_LANGUAGE, None
    if not has_request_context():
        return DEFAULT_LANGUAGE, None
    default = current_app.config.get(CONFIG_KEY, DEFAULT_LANGUAGE)
    asked = request.args.get("lang")
    if asked:
        try:
            return check_language(asked), None
        except InputError:
            return _known(request.cookies.get(LANG_COOKIE)) or default, asked
    return _known(request.cookies.get(LANG_COOKIE)) or default, None


def _known(lang: str | None) -> str | None:
    return lang if lang in LANGUAGES else None


def ui() -> Translator:
    """The translator of the current request (the default language outside one)."""
    return translator(requested_language()[0])


def install(server: Any, default: str | None) -> None:
    """Give the Flask ``server`` its default language and the cookie that keeps a page's.

    Raises
    ------
    tim.errors.InputError
        ``default`` is not a language the product speaks.
    """
    from flask import request

    server.config[CONFIG_KEY] = check_language(default, source="twin serve --lang")

    @server.after_request
    def _remember(response):
        asked = request.args.get("lang")
        if asked and request.method == "GET":
            try:
                lang = check_language(asked)
            except InputError:
                return response
            response.set_cookie(LANG_COOKIE, lang, samesite="Strict", httponly=True)
        return response


# -- words for values --------------------------------------------------------------------------
#: Units as the indicator tables write them -> message ids (translated in dashboard.po).
UNIT_IDS = {"persons": "persons", "buildings": "buildings", "cells": "cells",
            "ha": "ha", "persons/ha": "persons/ha", "m2/person": "m²/person", "%": "%",
            "1": "", "m": "m", "m3": "m³", "km": "km", "mu": "mu", "km2": "km²"}
#: Areas in hectares can be shown in another unit: unit -> hectares per unit's 1.
AREA_FACTORS = {"ha": 1.0, "mu": 15.0, "km2": 0.01}
STATUS_IDS = {"green": "within threshold", "yellow": "warning", "red": "beyond limit",
              "info": "for information"}
#: Units whose values are counts, shown without decimals.
COUNT_UNITS = ("persons", "buildings", "cells")


def unit_text(unit: str, t: Translator | None = None) -> str:
    """A unit in the page's language (an unknown unit is shown as written)."""
    t = t or ui()
    if unit == DAMAGE_UNIT:
        return damage_unit_words(t)
    key = UNIT_IDS.get(unit)
    return t.gettext(key) if key else ("" if key == "" else unit)


def with_unit(number: str, unit: str, t: Translator | None = None) -> str:
    """A number already written and its unit in the page's language, as the tables write
    hectares: ``"5.59 m"``, ``"5.59 米"``."""
    return f"{number} {unit_text(unit, t)}".strip()


def status_text(status: str, t: Translator | None = None) -> str:
    """A status in words (colour is never the only cue)."""
    t = t or ui()
    key = STATUS_IDS.get(status)
    return t.gettext(key) if key else status


def convert(value: float, unit: str, t: Translator) -> float:
    """``value`` in the unit shown on ``t``'s page (damage in the page's currency)."""
    return in_currency(value, unit, t.lang)


def area_in(value: float | None, unit: str, area_unit: str | None) -> tuple[float | None, str]:
    """A value and its unit, with hectares shown in ``area_unit`` (ha, mu = 亩, km2).

    Examples
    --------
    >>> area_in(2.0, "ha", "mu"), area_in(250.0, "ha", "km2"), area_in(3.0, "%", "mu")
    ((30.0, 'mu'), (2.5, 'km2'), (3.0, '%'))
    """
    if unit != "ha" or area_unit not in AREA_FACTORS or area_unit == "ha":
        return value, unit
    if value is None:
        return None, area_unit
    return value * AREA_FACTORS[area_unit], area_unit


def value_text(value: float | None, unit: str, t: Translator | None = None) -> str:
    """A value as a decision maker reads it: locale separators, sensible decimals, n/a."""
    t = t or ui()
    if value is None or not math.isfinite(value):
        return t.gettext("n/a")
    value = convert(value, unit, t)
    digits = 0 if unit in COUNT_UNITS or abs(value) >= 10_000 else 1
    return t.number(value, digits)


def delta_text(delta: float | None, unit: str, t: Translator | None = None) -> str:
    """A signed difference with a true minus sign; ``±0`` when it rounds to zero."""
    t = t or ui()
    if delta is None or not math.isfinite(delta):
        return t.gettext("n/a")
    text = value_text(abs(delta), unit, t)
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits.strip("0"):
        return "\u00b10"
    return ("+" if delta > 0 else "\u2212") + text


def class_name(name: str, t: Translator | None = None) -> str:
    """A land-use class name in the page's language (see :func:`tim.classes.localized`)."""
    from tim.classes import localized

    return localized(name, (t or ui()).lang)


def indicator_words(definition: Any, key: str, t: Translator | None = None
                    ) -> dict[str, str]:
    """Name, definition, formula and data source of an indicator in the page's language.

    A registry entry whose words the catalogue lacks is shown in English with ``missing`` set,
    so that the page can say so instead of failing.
    """
    t = t or ui()
    if definition is None:
        return {"name": key, "definition": "", "formula": "", "source": "", "missing": "1"}
    out: dict[str, str] = {"missing": ""}
    for field in ("name", "definition", "formula", "source"):
        text = str(getattr(definition, field, "") or "")
        shown = t.gettext(text) if text else ""
        if text and shown == text and t.lang != DEFAULT_LANGUAGE:
            out["missing"] = "1"
        out[field] = shown
    return out


def language_names() -> dict[str, str]:
    return dict(LANGUAGE_NAMES)


def threshold_text(definition: Any, level: str, unit: str, t: Translator | None = None,
                   area_unit: str | None = None) -> str:
    """The green range of an indicator at ``level`` in words ("≤ 10 ha", "65–115 m²/person"),
    or "" when the indicator is not judged there; areas in ``area_unit`` (see :func:`area_in`).
    """
    t = t or ui()
    if definition is None or definition.green is None or level not in definition.levels:
        return ""
    lo, hi = definition.green
    lo = area_in(lo, unit, area_unit)[0]
    hi, unit = area_in(hi, unit, area_unit)
    u = unit_text(unit, t)
    sep = "" if t.lang.startswith("zh") else " "

    def num(v: float) -> str:
        v = convert(float(v), unit, t)
        return t.number(v, 0 if v.is_integer() else 1)

    if lo is not None and hi is not None:
        body = num(lo) if lo == hi else f"{num(lo)}\u2013{num(hi)}"
        return f"{body}{sep}{u}".strip() if lo != hi else f"= {body}{sep}{u}".strip()
    if hi is not None:
        return f"\u2264 {num(hi)}{sep}{u}".strip()
    return f"\u2265 {num(lo)}{sep}{u}".strip()
