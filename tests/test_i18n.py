"""Languages: every message id in the code has its Chinese words; formats per locale."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.i18n import (LANGUAGES, MU_PER_HECTARE, catalogue, check_language, translator)
from tim.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS = {"gettext": None, "_": None}


def code_message_ids() -> dict[str, str]:
    """Every literal id passed to gettext() or _() in the product's code, with where it is."""
    from babel.messages.extract import extract_from_dir

    found: dict[str, str] = {}
    for package in ("viz", "scenarios", "tim"):
        for filename, lineno, message, _, _ in extract_from_dir(
                ROOT / package, method_map=[("**.py", "python")], keywords=KEYWORDS):
            msgid = message if isinstance(message, str) else message[0]
            if msgid:
                found.setdefault(msgid, f"{package}/{filename}:{lineno}")
    return found


def test_every_message_in_the_code_is_translated():
    zh = catalogue("zh_CN")
    missing = {m: where for m, where in code_message_ids().items() if m not in zh}
    assert not missing, f"add these ids to a zh_CN catalogue: {missing}"


def test_languages_and_their_aliases():
    assert check_language(None) == LANGUAGES[0]
    assert check_language("zh") == check_language("zh-CN") == "zh_CN"
    with pytest.raises(InputError, match="language not available"):
        check_language("fr")


def test_numbers_areas_and_money_per_locale():
    zh, en = translator("zh_CN"), translator("en")
    assert en.number(11721.1) == "11,721" and en.number(11721.1, digits=1) == "11,721.1"
    # 1 mu is 10000/15 m2, so 2 ha = 30 mu
    assert MU_PER_HECTARE * 2 == 30 and zh.area(2.0, unit="mu") == "30.0亩"
    assert en.area(250.0, unit="km2") == "2.5 km²"
    assert zh.money(1234.5) == "¥1,234.50" and en.money(3.0, "EUR") == "€3.00"
    assert zh.number(float("nan")) == zh.gettext("n/a") != "n/a"
    assert en.percent(0.256) == "26%"
