"""AlpacaEval win rate from judge annotations, computed exactly as alpaca_eval does.

The paper's Table 1 is the *raw* AlpacaEval 2.0 win rate (no length control). This mirrors
``alpaca_eval.metrics.get_winrate`` (``src/alpaca_eval/metrics/winrate.py`` and
``BaseScoringRule.describe_head2head`` in ``metrics/helpers.py``, tatsu-lab/alpaca_eval), so a
number computed here can sit next to leaderboard rows without re-deriving anything:

- ``preference`` is 1 (baseline ``output_1`` wins) .. 2 (model ``output_2`` wins); weighted
  annotators give 1 + P(model better). 1.5 is a draw; 0 is the legacy draw code and is mapped
  to 1.5 first.
- ``n_draws`` counts preferences equal to 1.5 (after the 0 -> 1.5 map), before anything is
  dropped.
- Values outside [1, 2], NaN, None and a missing ``preference`` are *not preferences*: they are
  dropped from every other number (alpaca_eval builds a float Series, so None and missing
  become NaN, and ``validate_alpacaeval_preference(x, is_allow_nan=False)`` rejects NaN).
- With ``x = preference - 1`` over the kept values: ``win_rate = 100 * mean(x)``,
  ``standard_error = 100 * sem(x)`` (sample standard deviation, ddof = 1, over sqrt(n)),
  ``n_wins = #(x > 0.5)``, ``n_wins_base = #(x < 0.5)``, ``n_total`` = number kept.
- ``discrete_win_rate`` (alpaca_eval's ZeroOneScoringRule): 1.5 -> draw, every other value is
  rounded half-to-even to an integer (so 1.7 counts as a full win), 0 -> 1.5, then the same
  mean over the values in [1, 2].

One deliberate difference: where alpaca_eval returns NaN (no preference kept; a standard error
from fewer than two), this returns None, so the output is valid JSON.

CLI: ``python -m srlm.eval.winrate FILE`` (JSON list or JSONL of annotations, optionally gzip)
prints one JSON object; a bad file exits 2 with one line naming the problem.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from srlm.artifacts import parse_jsonl, read_text

_MISSING = object()


def _as_float(value: Any) -> float:
    """A preference as alpaca_eval's float Series would hold it (None -> NaN)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"preference must be a number or None, got {value!r}")
    return float(value)


def _is_preference(x: float) -> bool:
    return 1.0 <= x <= 2.0  # False for NaN


def _mean_sem(values: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and standard error of the mean the way pandas computes them (nanmean / nansem)."""
    n = len(values)
    if n == 0:
        return None, None
    mean = float(values.sum() / n)
    if n < 2:
        return mean, None
    var = float(((mean - values) ** 2).sum() / (n - 1))
    return mean, float(np.sqrt(var) / np.sqrt(n))


def win_rate_from_preferences(preferences: Iterable[Any]) -> dict[str, Any]:
    """The alpaca_eval metrics of a sequence of preferences (None / NaN = not a preference)."""
    prefs = [_as_float(p) for p in preferences]

    # AbsoluteScoringRule.describe_head2head
    weighted = [1.5 if p == 0 else p for p in prefs]
    n_draws = sum(p == 1.5 for p in weighted)
    x = np.array([p - 1 for p in weighted if _is_preference(p)], dtype=float)
    mean, sem = _mean_sem(x)

    # ZeroOneScoringRule: 1.5 -> 0 (draw), round half-to-even, 0 -> 1.5, keep [1, 2].
    discrete = []
    for p in prefs:
        if math.isnan(p) or math.isinf(p):
            continue
        q = float(round(0.0 if p == 1.5 else p))
        q = 1.5 if q == 0 else q
        if _is_preference(q):
            discrete.append(q - 1)
    discrete_mean, _ = _mean_sem(np.array(discrete, dtype=float))

    return {
        "win_rate": None if mean is None else 100 * mean,
        "standard_error": None if sem is None else 100 * sem,
        "n_wins": int((x > 0.5).sum()),
        "n_wins_base": int((x < 0.5).sum()),
        "n_draws": int(n_draws),
        "n_total": len(x),
        "discrete_win_rate": None if discrete_mean is None else 100 * discrete_mean,
    }


def win_rate(annotations: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """alpaca_eval's ``get_winrate``: metrics of the annotations' ``preference`` values.

    A missing ``preference`` counts as NaN (dropped), as in the DataFrame alpaca_eval builds.
    """
    return win_rate_from_preferences(a.get("preference") for a in annotations)


class InputError(ValueError):
    """Bad input file: the message is the one line the CLI prints."""


def read_records(
    path: Path, *, allow_list: bool = True, item: str = "record"
) -> list[tuple[str, Any]]:
    """``(where, value)`` per record of a JSONL file, or of a JSON list when ``allow_list``.

    gzip is detected by its magic bytes, not the file's name. ``where`` names the record for an
    error message: ``path:LINE`` in JSONL (blank lines skipped but counted), ``path: ITEM I`` in a
    list. Any problem reading or parsing the file is an InputError naming the file and the line.
    srlm.eval's reader of input files (winrate, alpaca, agreement), on srlm.artifacts' JSONL.
    """
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        kind = "JSON or JSONL" if allow_list else "JSONL"
        raise InputError(f"{path}: is a directory, expected a {kind} file") from None
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise InputError(f"{path}: cannot read ({e})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None

    if allow_list and text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
        return [(f"{path}: {item} {i}", obj) for i, obj in enumerate(data)]
    try:
        records = [(f"{path}:{lineno}", obj) for lineno, obj in parse_jsonl(text, path)]
    except ValueError as e:
        raise InputError(str(e)) from None
    return records


def read_annotations(path: Path) -> list[dict[str, Any]]:
    """Annotations from a JSON list or JSONL file (optionally gzip), each with a ``preference``."""
    records = read_records(path)
    annotations = []
    for where, obj in records:
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        pref = obj.get("preference", _MISSING)
        if pref is _MISSING:
            raise InputError(f"{where}: missing field 'preference'")
        if pref is not None and (isinstance(pref, bool) or not isinstance(pref, (int, float))):
            raise InputError(
                f"{where}: field 'preference' must be a number or null, got {json.dumps(pref)}"
            )
        annotations.append(obj)
    if not annotations:
        raise InputError(f"{path}: no annotations")
    return annotations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m srlm.eval.winrate",
        description="AlpacaEval win rate (as alpaca_eval computes it) of an annotations file.",
    )
    parser.add_argument("file", type=Path, help="annotations: JSON list or JSONL, optionally .gz")
    args = parser.parse_args(argv)
    try:
        annotations = read_annotations(args.file)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(win_rate(annotations)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
