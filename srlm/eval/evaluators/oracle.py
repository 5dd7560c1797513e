"""The oracle judge of the synthetic tasks: it knows each answer's true grade."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from srlm.data.synthetic import grade
from srlm.eval.evaluators.base import Evaluator, Item


class OracleEvaluator(Evaluator):
    """Synthetic tasks: the output with the higher true grade wins; equal grades tie."""

    order_independent = True

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        verdicts: list[str | None] = []
        for instruction, out1, out2 in items:
            g1, g2 = grade(instruction, out1), grade(instruction, out2)
            if g1 is None or g2 is None:
                verdicts.append(None)
            else:
                verdicts.append("first" if g1 > g2 else "second" if g2 > g1 else "tie")
        return verdicts
