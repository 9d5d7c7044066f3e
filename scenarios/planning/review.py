"""The sunlight section of the compliance review (``twin review --sunlight DIR``): a
``twin sunlight --proposals FILE`` folder of the very proposals file reviewed (its sha256 in the
folder's manifest), read back as buildings that fail after the proposals and the proposals that
break them, named by the review's ``proposal_id``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from tim.errors import InputError

#: Broken buildings listed in the report at most (all of them are in the folder's CSVs).
LISTED = 60


def open_for_review(folder: str | Path, proposals_file: str | Path) -> Any:
    """The sunlight folder, refused (naming ``--sunlight``) unless it was computed for
    ``proposals_file`` as it is now."""
    from scenarios.planning.sunlight import SunlightFolder

    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise InputError("no sunlight folder here (twin sunlight --out)", source=folder,
                         field="--sunlight")
    found = SunlightFolder.open(folder)
    made_for = (found.manifest.get("proposals") or {}).get("sha256")
    if made_for != hashlib.sha256(Path(proposals_file).read_bytes()).hexdigest():
        raise InputError("this sunlight check was not made for the reviewed proposals file: "
                         f"run 'twin sunlight TIM --proposals {proposals_file} --out DIR'",
                         source=folder, field="--sunlight")
    return found


def proposal_names(folder: Any, proposal_ids: Sequence[Any]) -> dict[str, str]:
    """Sunlight proposal id -> the review's ``proposal_id`` (the same file, in its order)."""
    from tim.config import read_csv

    sun = read_csv(folder.path / "proposals.csv", "sunlight proposals",
                   dtype={"building_id": str})
    if len(sun) != len(proposal_ids):
        raise InputError(f"{len(sun)} proposals in the sunlight check, {len(proposal_ids)} "
                         "reviewed", source=folder.path, field="--sunlight")
    return dict(zip(sun["building_id"].astype(str), map(str, proposal_ids)))


def broken_table(folder: Any, names: dict[str, str]) -> pd.DataFrame:
    """Existing buildings that met the standard before and fail after, fewest hours first,
    with the reviewed proposals that break each (most shaded minutes first)."""
    b = folder.buildings
    broken = b[b["broken"].astype(str) == "True"].sort_values("min_hours_after")
    return pd.DataFrame({
        "building_id": broken["building_id"].to_numpy(),
        "hours_before": broken["min_hours_before"].to_numpy(float),
        "hours_after": broken["min_hours_after"].to_numpy(float),
        "broken_by": [";".join(names.get(x, x) for x in str(v).split(";") if x)
                      for v in broken["broken_by"].fillna("")]})
