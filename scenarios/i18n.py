"""Languages: message catalogues as data, and numbers, areas, money and dates per locale.

Code carries message ids in English (``t.gettext("Built-up area")``, or ``_ = t.gettext``);
the words of another language live in gettext catalogues under ``scenarios/locale``::

    scenarios/locale/<lang>/LC_MESSAGES/<domain>.po

One domain per part of the product (``dashboard.po``, ``report.po``, ...); a language's
catalogue is all of its domains merged, so any part may show any message. English is the
source language: its msgstr may stay empty (the id is shown). Catalogues are read with Babel at
run time (no compile step, no ``.mo`` files) and cached per language; one :class:`Translator`
object per language, never a process-wide ``gettext.install``, so two users of one dashboard can
read two languages at once.

Numbers go through Babel's locale formatting (thousands separators, decimals); areas are kept in
hectares and shown in ha, km2 or 亩 (1 mu = 666.67 m2 = 1/15 ha, the legal definition);
money in a currency (CNY by default for Chinese, EUR as the damage curves' own).

Adding messages: wrap the English text in ``t.gettext(...)`` (or ``_()``), then add the id and its
translation to the domain's ``zh_CN`` catalogue. ``pybabel extract -k gettext -k _ -o /tmp/x.pot
viz scenarios`` lists every id in the code; ``tests/test_i18n.py`` fails when a catalogue misses one.

Examples
--------
>>> t = translator("zh_CN")
>>> t.number(1234567.891, digits=1)
'1,234,567.9'
>>> t.area(15.0, unit="mu")
'225亩'
>>> translator("en").area(12.34), translator("en").area(1234.56)
('12.3 ha', '1,235 ha')
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Mapping

from tim.errors import InputError

#: Languages the product speaks; the first is the default.
LANGUAGES: tuple[str, ...] = ("en", "zh_CN")
DEFAULT_LANGUAGE = "en"
#: Display names of the languages, each in its own language (for a switch).
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "zh_CN": "中文"}
#: The currency money is shown in by default, per language.
DEFAULT_CURRENCY: Mapping[str, str] = {"en": "EUR", "zh_CN": "CNY"}
#: 1 hectare in mu (亩): 1 mu = 10000/15 m2 by definition.
MU_PER_HECTARE = 15.0
AREA_UNITS = ("ha", "km2", "mu")


def check_language(lang: str | None, *, source: str = "language") -> str:
    """``lang`` if the product speaks it (``None``: the default), else an InputError.

    Accepts ``zh``, ``zh-CN`` and ``zh_cn`` for ``zh_CN``.
    """
    if lang is None:
        return DEFAULT_LANGUAGE
    wanted = lang.replace("-", "_")
    for known in LANGUAGES:
        if wanted.lower() in {known.lower(), known.split("_")[0].lower()}:
            return known
    raise InputError(f"language not available (use one of {', '.join(LANGUAGES)})",
                     source=source, field="lang", value=lang)


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> Mapping[str, str]:
    """Every translated message of ``lang`` (id -> text), all domains merged.

    Two domains giving one id two different texts is an error: the product says one thing one way.
    """
    from babel.messages.pofile import read_po

    messages: dict[str, str] = {}
    folder = resources.files("scenarios") / "locale" / lang / "LC_MESSAGES"
    if not folder.is_dir():
        return messages
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".po"):
            continue
        with entry.open("rb") as fh:
            po = read_po(fh, locale=lang)
        for message in po:
            if not message.id or not message.string or message.fuzzy:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            text = message.string if isinstance(message.string, str) else message.string[0]
            if messages.get(key, text) != text:
                raise InputError(f"two translations of {key!r}", source=f"{lang}/{entry.name}",
                                 field="msgstr", value=text)
            messages[key] = text
    return messages


@dataclass(frozen=True)
class Translator:
    """Messages and formats of one language."""

    lang: str
    messages: Mapping[str, str] = field(repr=False, default_factory=dict)

    @property
    def locale(self) -> str:
        return self.lang

    def gettext(self, message: str, **values: object) -> str:
        """The message in this language, with ``{name}`` fields filled from ``values``."""
        text = self.messages.get(message, message)
        return text.format(**values) if values else text

    __call__ = gettext

    def number(self, value: float | None, digits: int = 0) -> str:
        """``value`` with this locale's separators and ``digits`` decimals; n/a for None/NaN."""
        from babel.numbers import format_decimal

        if value is None or value != value:
            return self.gettext("n/a")
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return format_decimal(value, format=pattern, locale=self.lang)

    def percent(self, share: float | None, digits: int = 0) -> str:
        """A share (0.256) as a percentage (26%)."""
        from babel.numbers import format_percent

        if share is None or share != share:
            return self.gettext("n/a")
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
        return format_percent(share, format=pattern, locale=self.lang)

    def area(self, hectares: float | None, unit: str = "ha", digits: int | None = None) -> str:
        """An area given in hectares, shown in ``unit`` (ha, km2 or mu)."""
        if unit not in AREA_UNITS:
            raise InputError(f"unknown area unit (use one of {', '.join(AREA_UNITS)})",
                             field="unit", value=unit)
        if hectares is None or hectares != hectares:
            return self.gettext("n/a")
        value = {"ha": hectares, "km2": hectares / 100.0, "mu": hectares * MU_PER_HECTARE}[unit]
        if digits is None:
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 1 else 2
        symbol = {"ha": self.gettext("ha"), "km2": self.gettext("km²"),
                  "mu": self.gettext("mu")}[unit]
        joiner = "" if self.lang.startswith("zh") else " "
        return f"{self.number(value, digits)}{joiner}{symbol}"

    def money(self, amount: float | None, currency: str | None = None) -> str:
        """``amount`` in ``currency`` (default: this language's), e.g. ``¥1,234.50``."""
        from babel.numbers import format_currency

        if amount is None or amount != amount:
            return self.gettext("n/a")
        return format_currency(amount, currency or DEFAULT_CURRENCY[self.lang],
                               locale=self.lang)

    def date(self, value, format: str = "medium") -> str:
        """A date (or datetime) in this locale's words."""
        from babel.dates import format_date

        return format_date(value, format=format, locale=self.lang)


@dataclass(frozen=True)
class MoneySetting:
    """How euros of the damage curves are shown in a currency: factor and price year."""

    currency: str
    per_eur: float
    price_year: int
    source: str


def damage_money(lang: str) -> MoneySetting:
    """How damage is shown in ``lang``: the currency, the factor from the curves' euros and
    the price year.

    The damage curves (JRC, Huizinga et al. 2017) are in euros at 2010 prices. Chinese pages
    and reports show yuan, converted by default at the ECB's 2010 average reference rate
    (8.9712 CNY per EUR), prices kept in 2010; the environment variable
    ``TWIN_CNY_PER_EUR_2010`` overrides the factor (for example to fold in inflation since
    2010). The dashboard and the reports both call this function, so they agree.

    >>> damage_money("en").currency, damage_money("zh_CN").currency
    ('EUR', 'CNY')
    """
    if lang.startswith("zh"):
        text = os.environ.get("TWIN_CNY_PER_EUR_2010")
        try:
            factor = float(text) if text else 8.9712
        except ValueError:
            raise InputError("not a number", source="environment",
                             field="TWIN_CNY_PER_EUR_2010", value=text) from None
        if not math.isfinite(factor) or factor <= 0:
            raise InputError("must be a positive number", source="environment",
                             field="TWIN_CNY_PER_EUR_2010", value=text)
        return MoneySetting("CNY", factor, 2010, "ECB 2010 average reference rate"
                            if not text else "TWIN_CNY_PER_EUR_2010")
    return MoneySetting("EUR", 1.0, 2010, "JRC damage curves")


def scenario_text(title: str, t: Translator) -> str:
    """A scenario's title in ``t``'s language: a title is a message id (the built-in ones are
    translated in ``scenarios.po``); a title without a translation is shown as written.

    >>> scenario_text("Baseline - trend growth, current plan", translator("zh_CN"))
    '基准情景——趋势增长，现行规划'
    """
    return t.gettext(str(title))


#: The unit of damage as the indicator tables write it (millions of euros at 2010 prices).
DAMAGE_UNIT = "M EUR (2010)"


def in_currency(value: float, unit: str, lang: str) -> float:
    """``value`` in the currency of ``lang`` when ``unit`` is :data:`DAMAGE_UNIT` (else as is).

    >>> in_currency(1.0, DAMAGE_UNIT, "en"), in_currency(2.0, "ha", "zh_CN")
    (1.0, 2.0)
    """
    if unit == DAMAGE_UNIT and math.isfinite(value):
        return value * damage_money(lang).per_eur
    return value


def damage_unit_words(t: Translator) -> str:
    """The unit of converted damage in ``t``'s words, e.g. "million CNY (2010 prices)"."""
    money = damage_money(t.lang)
    return t.gettext("million {currency} ({year} prices)", currency=money.currency,
                     year=money.price_year)


@functools.lru_cache(maxsize=None)
def translator(lang: str | None = None) -> Translator:
    """The :class:`Translator` of ``lang`` (see :func:`check_language`)."""
    lang = check_language(lang)
    return Translator(lang, catalogue(lang))
