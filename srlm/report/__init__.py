"""The paper's tables and plots from finished runs: ``python -m srlm.report RUNS_DIR``.

Reads every ``summary.json`` under RUNS_DIR (skipping the shared ``store/`` and Hydra's
``_hydra/`` log dirs), or the same rows from wandb with ``--wandb ENTITY/PROJECT``, and writes to
``--out`` (default ``RUNS_DIR/report``): ``report.md``, one ``.csv`` and one ``.tex`` per table,
and one titled PNG per figure. Every table puts the paper's number beside ours (the ``PAPER_*``
dicts of ``srlm.report.paper``, from the paper's figures and tables), so a reproduction reads at a
glance; a plot draws the paper's numbers only in their own labelled series, with their judge.

Modules, one responsibility each:
- ``paper``: the paper's reported numbers;
- ``runs``: loading summary.json files or wandb runs into ``Run`` objects;
- ``tables``: the table model and its markdown / CSV / LaTeX renderings;
- ``paper_tables``: Figure 3, Table 1, Table 4 and the loop statistics, the paper's beside ours;
- ``ablations``: one table per config key that differs between runs of one experiment name;
- ``plots``: the PNG figures;
- ``writer``: report.md and every file it links; ``cli`` (and ``__main__``): the command line.

How summary.json rows are read:
- win / tie / loss and the AlpacaEval win rate are percentages (0-100), as the paper prints them;
- agreement metrics and the other rates are fractions, printed here in % (the two rank
  correlations stay as they are, as in Table 4);
- the row of M_t carries the statistics of AIFT(M_t), the pairs M_t built to train M_{t+1}
  (M1 is trained by SFT, so the row of M1 cannot describe pairs that trained it);
- any key may be missing or null: its cell stays empty.
"""

from srlm.report.ablations import ABLATIONS, ablation_table, ablation_tables, varying_dims
from srlm.report.cli import main
from srlm.report.paper_tables import (
    head_to_head_table,
    loop_stats_table,
    reward_modelling_table,
    win_rate_table,
)
from srlm.report.plots import PLOTS, head_to_head_figure, line_figure, write_plots
from srlm.report.runs import (
    ReportError,
    Run,
    find_summaries,
    load_runs,
    load_summary,
    load_wandb,
    model_name,
)
from srlm.report.tables import Column, Table, to_markdown, to_tex, write_csv
from srlm.report.writer import all_tables, write_report

__all__ = [
    "ABLATIONS",
    "PLOTS",
    "Column",
    "ReportError",
    "Run",
    "Table",
    "ablation_table",
    "ablation_tables",
    "all_tables",
    "find_summaries",
    "head_to_head_figure",
    "head_to_head_table",
    "line_figure",
    "load_runs",
    "load_summary",
    "load_wandb",
    "loop_stats_table",
    "main",
    "model_name",
    "reward_modelling_table",
    "to_markdown",
    "to_tex",
    "varying_dims",
    "win_rate_table",
    "write_csv",
    "write_plots",
    "write_report",
]
