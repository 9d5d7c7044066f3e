"""The contents of the monitoring reports: what each command's report says, as
:class:`~scenarios.monitoring.report.Report` objects (rendering is in ``report.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from scenarios.monitoring.report import Report, Section, legend, map_image, table

if TYPE_CHECKING:
    from scenarios.monitoring.changes import ChangeResult
    from tim.model import Territory

#: Patches listed in the report (all are in patches.csv).
LISTED_PATCHES = 40
SEVERITY_COLOURS = {1: "#7b1fa2", 2: "#c62828", 3: "#f9a825", 4: "#90a4ae"}
LINE_COLOUR = "#e0e0e0"


SHORT_LINES = {"ecological_red_line": "RL", "permanent_basic_farmland": "PBF",
               "outside_urban_development_boundary": "UDB", "water_line": "WL"}


def _short_lines(touches: str) -> str:
    return " ".join(SHORT_LINES.get(t, t) for t in touches.split(";") if t)


def derived_notes(lines) -> list[str]:
    return [f"{lines.label(n)}: DERIVED stand-in, not an adopted line - {rule}."
            for n, rule in lines.derived.items()]


def changes_report(result: ChangeResult, territory: Territory, inputs: dict[str, Any]
                   ) -> Report:
    df = result.patches
    by = df.groupby("severity")["area_ha"].agg(["count", "sum"])
    summary = [{"severity": s, "patches": int(by["count"].get(s, 0)),
                "area_ha": float(by["sum"].get(s, 0.0))}
               for s in ("critical", "high", "medium", "low")]
    import pandas as pd

    # map: the patches coloured by severity over the lines (grey)
    rank = {"critical": 1, "high": 2, "medium": 3, "low": 4}
    sev_of_patch = np.zeros(len(df) + 1, np.uint8)
    sev_of_patch[df["patch_id"].to_numpy()] = df["severity"].map(rank).to_numpy()
    canvas = sev_of_patch[result.labels]
    hard = np.zeros(result.labels.shape, bool)
    for name in ("ecological_red_line", "permanent_basic_farmland"):
        if name in result.lines.masks:
            hard |= result.lines.masks[name]
    canvas = np.where((canvas == 0) & hard, 9, canvas)
    image = map_image(canvas, {**SEVERITY_COLOURS, 9: LINE_COLOUR})
    balance = result.balance
    short = balance[(balance["status"] != "green")].sort_values("net_ha")
    return Report(
        title=f"Change patches {result.before} → {result.after}: {territory.name}",
        facts={"territory": territory.name, "maps": f"{inputs.get('before')} → "
               f"{inputs.get('after')}", "minimum patch": f"{result.min_area_ha:g} ha "
               f"({result.connectivity}-connected)",
               "changed cells": f"{result.changed_cells:,}",
               "patches kept": f"{len(df):,} ({result.dropped:,} smaller ones dropped)"},
        notes=derived_notes(result.lines),
        sections=[
            Section("Patches by severity", tables=[table(pd.DataFrame(summary),
                                                         status_column="severity")]),
            Section("Control lines touched", tables=[table(result.line_summary.drop(
                columns=["line"]))]),
            Section("Map", images=[("Change patches: purple critical, red high, amber medium, "
                                    "grey low; light grey = hard control lines", image)]),
            Section(f"Leads to follow up (the {min(LISTED_PATCHES, len(df))} most severe of "
                    f"{len(df):,}; all in patches.csv / patches.gpkg)",
                    text=["Lines: RL ecological red line, PBF permanent basic farmland, "
                          "UDB outside the urban development boundary, WL water line."],
                    tables=[table(df.assign(lines=df["touches"].map(_short_lines)),
                                  ["patch_id", "severity", "reason", "from_name", "to_name",
                                   "area_ha", "x", "y", "unit", "lines"],
                                  status_column="severity", limit=LISTED_PATCHES)]),
            Section("Farmland balance 耕地占补平衡",
                    text=[f"City: {balance.iloc[-1]['lost_ha']:.1f} ha lost, "
                          f"{balance.iloc[-1]['gained_ha']:.1f} ha gained "
                          f"({balance.iloc[-1]['status']}). {len(short[short['level'] == 'unit'])}"
                          " unit(s) did not compensate their loss (largest shortfalls "
                          "below; all in farmland_balance.csv)."],
                    tables=[table(short, ["level", "area", "district", "lost_ha", "gained_ha",
                                          "net_ha", "status"], status_column="status",
                                  limit=25)]),
        ])


def class_colours(territory: Territory) -> tuple[dict[int, str], dict[int, str]]:
    return ({c.code: c.colour for c in territory.classes},
            {c.code: c.name for c in territory.classes})


def assessment_report(result, territory: Territory, inputs: dict[str, Any]) -> Report:
    import pandas as pd

    from scenarios.indicators import load_registry
    from scenarios.monitoring.assess import HEADLINE

    registry = load_registry(None if inputs.get("registry") in (None, "default")
                             else inputs["registry"])
    years, last = result.years, result.years[-1]
    city = result.city
    head = []
    for key in HEADLINE:
        rows = city[city["indicator"] == key].set_index("year")
        if rows.empty:
            continue
        row = {"indicator": registry[key].name, "unit": rows["unit"].iloc[0]}
        for y in years:
            row[str(y)] = rows.loc[y, "value"]
        row["target"] = rows.loc[last, "target"]
        row["status"] = rows.loc[last, "status"]
        head.append(row)
    head_df = pd.DataFrame(head)
    colours, names = class_colours(territory)
    sections = [Section(f"Headline indicators {years[0]}–{last}",
                        text=["Values for the whole territory; 'lost' indicators count from "
                              f"{years[0]}. Status of {last}: the plan target where one "
                              "applies, else the registry's green/yellow ranges."],
                        tables=[table(head_df, status_column="status")])]
    w = result.warnings
    latest = w[w["year"] == last]
    sections.append(Section(
        f"Warnings {last} ({int((latest['status'] == 'red').sum())} red, "
        f"{int((latest['status'] == 'yellow').sum())} yellow; {len(w)} over all years in "
        "warnings.csv)", tables=[table(latest, ["level", "area", "indicator", "status",
                                                "message"], status_column="status",
                                         limit=40)]))
    if not result.progress.empty:
        p = result.progress[result.progress["level"].isin(["city", "district"])]
        sections.append(Section("Plan targets: progress", text=[
            "Share of the way from the first observed value to the target (caps: headroom "
            "used; floors: gap closed). Units are in progress.csv."],
            tables=[table(p, ["indicator", "level", "area", "kind", "milestone", "target",
                              "latest", "progress_pct", "status"], status_column="status",
                          limit=60)]))
    if not result.trends.empty:
        sections.append(Section("Trends", tables=[table(
            result.trends[result.trends["indicator"].isin(HEADLINE)],
            ["indicator", "unit", "first_year", "first", "last_year", "last", "trend_per_year",
             "milestone", "projected", "target", "projected_status"],
            status_column="projected_status")]))
    images = [(f"Observed land use {last}: " + legend(colours, names),
               map_image(result.maps[last], colours))]
    if len(years) > 1:
        prev = years[-2]
        a, b = result.maps[prev], result.maps[last]
        gained = np.where((a != b) & (a != 255) & (b != 255), b, 0)
        images.append((f"Change {prev} → {last}: each changed cell in the colour of the class "
                       f"it became ({int((gained > 0).sum()):,} cells)",
                       map_image(gained, colours)))
    sections.append(Section("Maps", images=images))
    notes = derived_notes(result.lines)
    missing = [y for y in years if y not in result.population_years]
    if missing:
        notes.append(f"No observed population for {', '.join(map(str, missing))}: indicators "
                     "that need residents have no value in those years.")
    return Report(
        title=f"Assessment {years[0]}–{last}: {territory.name}",
        facts={"territory": territory.name, "observed years": ", ".join(map(str, years)),
               "population observed": ", ".join(map(str, result.population_years)) or "none",
               "levels": "city" + (", district, unit" if result.areas is not None else ""),
               "indicator registry": inputs.get("registry", "default")},
        notes=notes, sections=sections)


#: Narrow headers for the capacity table (the CSV keeps the full names).
SHORT_CAPACITY = {"construction_capacity_ha": "capacity ha", "existing_built_ha": "built ha",
                  "headroom_ha": "headroom ha", "population_capacity": "people capacity",
                  "population": "residents", "agricultural_suitable_ha": "farming ha",
                  "ecological_very_important_ha": "eco grade 5 ha"}
GRADE_COLOURS = {1: "#d7191c", 2: "#fdae61", 3: "#ffffbf", 4: "#a6d96a", 5: "#1a9641"}


def evaluation_report(result, territory: Territory, areas, capacity, inputs: dict[str, Any]
                      ) -> Report:
    rules = result.rules
    city = areas[areas["level"] == "city"].copy()
    city["evaluation"] = [rules.evaluations[k].name for k in city["evaluation"]]
    sections = [Section("Grade areas (ha), whole territory", text=[
        "Grade 5 = 极重要 / 适宜 (highest), 1 = lowest; 0 (no data) is not counted."],
        tables=[table(city, ["evaluation"] + [f"grade_{i}_ha" for i in range(1, 6)])])]
    std = rules.standards
    cap_cols = [c for c in ("area", "construction_capacity_ha", "existing_built_ha",
                            "headroom_ha", "population_capacity", "population",
                            "agricultural_suitable_ha", "ecological_very_important_ha")
                if c in capacity.columns]
    sections.append(Section("Carrying capacity", text=[
        f"Construction land capacity: cells of urban construction suitability grade >= "
        f"{std.suitable_grade} outside hard control lines. Population capacity: that land at "
        f"{std.construction_land_per_capita_m2:g} m² of construction land per person "
        "(GB 50137-2011 range 65–115 m²). City and districts below; every unit in "
        "capacity.csv."],
        tables=[table(capacity[capacity["level"].isin(["city", "district"])][cap_cols]
                      .rename(columns=SHORT_CAPACITY))]))
    for key, grade in result.grades.items():
        ev = rules.evaluations[key]
        weights = ", ".join(f"{f.name} {f.weight:g}{' (limit)' if f.limit else ''}"
                            for f in ev.factors if f.name in result.factors[key])
        sections.append(Section(ev.name, text=[f"Factors used (weights): {weights}."],
                                images=[(f"{ev.name}: dark green 5 … red 1",
                                         map_image(grade, GRADE_COLOURS))]))
    notes = [item["message"] for item in result.left_out]
    return Report(title=f"双评价 Carrying capacity and development suitability: {territory.name}",
                  facts={"territory": territory.name, "rules": inputs.get("rules"),
                         "land use": inputs.get("land_use"),
                         "flood hazard": inputs.get("flood") or
                         ("surge__water_depth of the TIM" if "surge__water_depth"
                          in territory.fields else "none")},
                  notes=notes, sections=sections)


def review_report(result, territory: Territory, inputs: dict[str, Any]) -> Report:
    import pandas as pd

    props = result.proposals
    r = result.results
    per_rule = (r.groupby(["rule", "source"], sort=False)["result"].value_counts()
                .unstack(fill_value=0).reset_index())
    for c in ("pass", "fail", "not checked"):
        if c not in per_rule:
            per_rule[c] = 0
    status = np.zeros(len(props) + 1, np.uint8)
    status[1:] = np.where(props["result"].to_numpy() == "fail", 2, 1)
    canvas = status[result.cells]
    rows, cols = np.nonzero(canvas)
    if rows.size:  # zoom on the proposals (with a margin), so small sites stay visible
        pad = 20
        r0, r1 = max(0, rows.min() - pad), rows.max() + pad + 1
        c0, c1 = max(0, cols.min() - pad), cols.max() + pad + 1
        canvas = canvas[r0:r1, c0:c1]
    image = map_image(canvas, {1: "#2e7d32", 2: "#c62828"}, background="#eeeeee")
    fails = r[r["result"] == "fail"]
    summary = pd.DataFrame([{"proposals": len(props),
                             "pass": int((props["result"] == "pass").sum()),
                             "fail": int((props["result"] == "fail").sum())}])
    return Report(
        title=f"Compliance review: {territory.name}",
        facts={"territory": territory.name, "proposals": inputs.get("proposals"),
               "rules": inputs.get("rules"), "height rules": inputs.get("height_rules") or
               "none"},
        notes=derived_notes(result.lines),
        sections=[
            Section("Result", text=["A failing proposal is a finding for the reviewer, not an "
                                    "error; every check with its measured value, limit and "
                                    "legal source is in results.csv."],
                    tables=[table(summary)]),
            Section("Rules", tables=[table(per_rule, ["rule", "pass", "fail", "not checked",
                                                      "source"])]),
            Section("Failures", tables=[table(fails, ["proposal_id", "rule", "measured",
                                                      "limit", "unit_of_measure", "zone",
                                                      "unit", "note"],
                                              limit=80)],
                    images=[("Proposals: green pass, red fail", image)]),
            Section("Proposals", tables=[table(props, ["proposal_id", "kind", "use", "zone",
                                                       "unit", "result", "failed_rules"],
                                               status_column="result", limit=80)]),
        ])
