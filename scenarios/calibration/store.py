"""The fitted suitability model on disk, in a format that cannot run code when it is read.

``twin calibrate`` used to pickle the model (joblib): loading a pickle executes whatever the
file says, so a crafted calibration folder ran code in ``twin simulate``. The model is now a
`skops <https://skops.readthedocs.io>`_ file: skops rebuilds scikit-learn objects from a
description and refuses every type that is not on a list of trusted ones. That list is written
here in the code (never taken from the file), and the file's sha256 must match the one kept by
whoever references it (``parameters.yaml``) before it is opened at all.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from engine.learning import SuitabilityModel, constant_classifier
from tim.build import file_sha256
from tim.errors import InputError, StoreError

#: The file name inside a calibration report.
MODEL_FILE = "suitability.skops"
FORMAT = "territory-twin/suitability-model"
FORMAT_VERSION = 1
#: Types skops may build beyond its own defaults (scikit-learn estimators, NumPy, builtins):
#: the trees of a random forest. Nothing the file says can extend this list.
TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)


def save_suitability(model: SuitabilityModel, path: str | Path) -> str:
    """Write ``model``'s classifiers to ``path`` (skops); return the file's sha256.

    Only what prediction needs is stored; the report's figures (AUC, contributions) live in
    ``metrics.json``. A constant classifier is stored as its probability.
    """
    import skops.io as sio

    estimators = [getattr(e, "constant", e) for e in model.estimators]
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, "method": model.method,
                "codes": list(model.codes), "drivers": list(model.drivers),
                "categorical": list(model.categorical), "estimators": estimators}
    sio.dump(document, path, compression=zipfile.ZIP_DEFLATED)
    return file_sha256(path)


def load_suitability(path: str | Path, sha256: str, *, referenced_by: str | Path
                     ) -> SuitabilityModel:
    """The model in ``path``, after checking its sha256 against ``sha256``.

    Raises
    ------
    InputError
        The file is missing, is an old pickle (``.joblib``), is not a skops model file, or
        holds a type that is not trusted.
    StoreError
        Its sha256 differs from the one ``referenced_by`` records.
    """
    import skops.io as sio

    path = Path(path)
    if path.suffix in {".joblib", ".pkl", ".pickle"}:
        raise InputError("the suitability model is a pickle, which is never loaded (it could "
                         "run code); calibrate again to write a skops model",
                         source=referenced_by, field="suitability.file", value=path.name)
    if not path.is_file():
        raise InputError("the suitability model file is missing", source=path)
    if file_sha256(path) != sha256:
        raise StoreError(f"{path}: sha256 differs from {Path(referenced_by).name}: the file was "
                         "changed or belongs to another calibration")
    try:
        untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
        if untrusted:
            raise InputError(f"the model file holds types that are not trusted: "
                             f"{', '.join(sorted(untrusted)[:5])}", source=path)
        document: Any = sio.load(path, trusted=list(TRUSTED_TYPES))
    except InputError:
        raise
    except Exception as exc:  # skops reports a corrupt file with many exception types
        raise InputError(f"not a readable skops model file: {type(exc).__name__}: "
                         f"{str(exc)[:200]}", source=path) from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(f"not a suitability model file (format {FORMAT})", source=path,
                         field="format")
    if document.get("format_version") != FORMAT_VERSION:
        raise InputError(f"version {document.get('format_version')} is not supported "
                         f"(this is {FORMAT_VERSION})", source=path, field="format_version")
    estimators = [constant_classifier(e) if isinstance(e, float) else e
                  for e in document["estimators"]]
    return SuitabilityModel(document["method"], tuple(int(c) for c in document["codes"]),
                            tuple(document["drivers"]), tuple(document["categorical"]),
                            estimators)
