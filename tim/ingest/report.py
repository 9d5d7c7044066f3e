"""What an ingest repaired, skipped or filled in, feature by feature, and why.

Readers never drop or change a feature silently: each such decision goes into an
:class:`IngestReport` with the file, the feature and the reason. :func:`tim.build.build_territory`
writes the report into the territory's history (one entry per source, action and reason, with the
count and the first few features), ``twin tim build`` prints it and ``twin tim info`` shows it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Action = Literal["repaired", "skipped", "defaulted", "ignored"]
#: Features named per (source, action, reason) in the history; the rest are counted.
EXAMPLES = 5


@dataclass
class IngestReport:
    """Issues collected while reading sources.

    Examples
    --------
    >>> report = IngestReport()
    >>> report.add("b.gpkg", "skipped", "empty geometry", "feature 3")
    >>> report.add("b.gpkg", "skipped", "empty geometry", "feature 9")
    >>> [(g["action"], g["reason"], g["count"]) for g in report.grouped()]
    [('skipped', 'empty geometry', 2)]
    >>> report.lines()
    ['b.gpkg: skipped 2 feature(s): empty geometry (feature 3, feature 9)']
    """

    issues: list[tuple[str, Action, str, str]] = field(default_factory=list)

    def add(self, source: str | Path, action: Action, reason: str, feature: str) -> None:
        self.issues.append((str(source), action, reason, feature))

    def count(self, action: Action | None = None) -> int:
        return sum(1 for _, a, _, _ in self.issues if action is None or a == action)

    def grouped(self) -> list[dict]:
        """One dict per (source, action, reason): count and the first features, in order."""
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for source, action, reason, feature in self.issues:
            groups[(source, action, reason)].append(feature)
        return [{"source": s, "action": a, "reason": r, "count": len(f),
                 "features": f[:EXAMPLES]} for (s, a, r), f in groups.items()]

    def lines(self) -> list[str]:
        """Human-readable lines, one per group."""
        out = []
        for g in self.grouped():
            more = ", ..." if g["count"] > len(g["features"]) else ""
            out.append(f"{g['source']}: {g['action']} {g['count']} feature(s): {g['reason']} "
                       f"({', '.join(g['features'])}{more})")
        return out


def feature_label(frame, index: int) -> str:
    """``feature <i> (<id column>=<value>)`` for messages: the row and its id, when there is one."""
    for column in ("building_id", "id", "fid", "identificatie", "identificatiebagpnd",
                   "unit_id", "zone", "name"):
        if column in frame.columns:
            value = frame[column].iloc[index]
            value = value.item() if hasattr(value, "item") else value  # numpy scalar -> Python
            return f"feature {index} ({column}={value!r})"
    return f"feature {index}"
