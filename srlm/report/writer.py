"""report.md and the files it links: every table as .csv and .tex, every plot as .png."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from srlm.paper_check import check_table
from srlm.report.ablations import ablation_tables
from srlm.report.paper_tables import (
    head_to_head_table,
    loop_stats_table,
    reward_modelling_table,
    win_rate_table,
)
from srlm.report.plots import PLOTS, write_plots
from srlm.report.runs import Run, model_name
from srlm.report.tables import Column, Table, to_markdown, to_tex, write_csv


def all_tables(runs: Sequence[Run]) -> list[Table]:
    return [
        head_to_head_table(runs),
        win_rate_table(runs),
        reward_modelling_table(runs),
        loop_stats_table(runs),
        *ablation_tables(runs),
    ]


def _runs_table(runs: Sequence[Run]) -> Table:
    groups = ("model", "data", "judge", "pairs", "train", "evaluator")
    table = Table(
        "runs",
        "Runs",
        "",
        [Column("Run"), Column("Name"), *(Column(g) for g in groups), Column("Models")],
    )
    for run in runs:
        models = ", ".join(model_name(r["iteration"]) for r in run.rows)
        table.rows.append([run.label, run.name, *(run.choices.get(g, "") for g in groups), models])
    return table


def paper_settings(runs: Sequence[Run], out: Path) -> list[str]:
    """report.md's opening section: each paper setting beside each run's resolved config
    (``srlm.paper_check``); runs with the same table share it. Also ``paper_settings.csv``."""
    tables: dict[str, list[str]] = {}
    records, missing = [], []
    for run in runs:
        if not run.config:
            missing.append(run.label)
            continue
        rows, md = check_table(run.config)
        tables.setdefault(md, []).append(run.label)
        records += [{"run": run.label, **row} for row in rows]
    md_lines = [
        "## Paper settings",
        "",
        "Each setting the paper states (Yuan et al. 2024; section or figure), this run's resolved "
        "value, and whether it is the same or why it differs (srlm/paper_check.py, "
        "docs/protocol.md).",
        "",
    ]
    for md, labels in tables.items():
        if len(tables) > 1:
            md_lines += [f"Run{'s' if len(labels) > 1 else ''}: {', '.join(labels)}", ""]
        md_lines += [md, ""]
    if missing:
        md_lines += [f"No resolved config in summary.json: {', '.join(missing)}.", ""]
    if records:
        with (out / "paper_settings.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        md_lines += ["Files: [paper_settings.csv](paper_settings.csv)", ""]
    return md_lines


def write_report(runs: Sequence[Run], out: Path, source: str) -> Path:
    """Write every table (md, csv, tex) and plot to ``out``; return the path of report.md."""
    out.mkdir(parents=True, exist_ok=True)
    tables = all_tables(runs)
    md = [
        "# srlm report",
        "",
        f"Source: `{source}` ({len(runs)} run{'s' if len(runs) != 1 else ''}). Paper numbers: Yuan et al. 2024, "
        "Llama 2 70B (§3.2 and Appendix A). Win/tie/loss and win rates in %; empty cells: "
        "not logged.",
        "",
        *paper_settings(runs, out),
        "## Runs",
        "",
        to_markdown(_runs_table(runs)),
        "",
    ]
    for table in tables:
        write_csv(table, out / f"{table.slug}.csv")
        (out / f"{table.slug}.tex").write_text(to_tex(table), encoding="utf-8")
        md += [f"## {table.title}", "", table.note, ""]
        md += [to_markdown(table) if table.rows else "_No run logged these metrics._", ""]
        md += [f"Files: [{table.slug}.csv]({table.slug}.csv), [{table.slug}.tex]({table.slug}.tex)"]
        md += [""]
    plots = write_plots(runs, out)
    md += ["## Plots", ""]
    for filename, title in plots:
        md += [f"![{title}]({filename})", ""]
    missing = [title for stem, (title, _) in PLOTS.items() if f"{stem}.png" not in dict(plots)]
    if missing:
        md += ["No run logged: " + "; ".join(missing) + ".", ""]
    path = out / "report.md"
    path.write_text("\n".join(md), encoding="utf-8")
    return path
