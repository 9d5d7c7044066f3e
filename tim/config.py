"""Configuration files - catalogs, class maps, plans, height rules, scenarios, land-use
parameters, the indicator registry - read the same way: YAML parsed with errors that name the
file, and pydantic validation failures turned into an :class:`~tim.errors.InputError` naming
the file, the key (dotted path) and the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tim.errors import InputError


def read_yaml(path: str | Path, what: str, *, not_a_mapping: str | None = None) -> Any:
    """The parsed YAML document of ``path``.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for the messages ("catalog file", "plan", ...).
    not_a_mapping : str, optional
        If given, a document that is not a mapping is an error with this message.

    Raises
    ------
    InputError
        ``<path>: <what> not found``, ``<path>: cannot read the <what>: ...``,
        ``<path>: not valid YAML: ...`` or ``<path>: <not_a_mapping>``.

    Examples
    --------
    >>> read_yaml("nowhere.yaml", "plan")
    Traceback (most recent call last):
    ...
    tim.errors.InputError: nowhere.yaml: plan not found
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} not found", source=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc}", source=path) from exc
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", source=path) from exc
    if not_a_mapping is not None and not isinstance(raw, dict):
        raise InputError(not_a_mapping, source=path)
    return raw


def validation_error(exc: Any, source: str | Path, *, prefix: Sequence[Any] = (),
                     skip: int = 0) -> InputError:
    """The first error of a pydantic ``ValidationError`` as an :class:`InputError`.

    The field is the error's location joined by dots (``prefix`` put in front, its first
    ``skip`` parts dropped); the problem is pydantic's message without its "Value error, "
    prefix, or "required key is missing"; the value is the input at fault (none for a missing
    key or a whole mapping).
    """
    error = exc.errors()[0]
    key = ".".join(str(p) for p in (*prefix, *error["loc"][skip:])) or None
    if error["type"] == "missing":
        return InputError("required key is missing", source=source, field=key)
    value = error.get("input")
    return InputError(error["msg"].removeprefix("Value error, "), source=source, field=key,
                      value=None if isinstance(value, dict) else value)
