"""LLM-as-a-Judge: render the judge prompt, parse "Score: N" from the judge's own text, aggregate.

The judge knows nothing about models, paths or Hydra: the judge stage feeds it generated texts.
A judgment that cannot be parsed is ``None`` (counted, reported), never a number: peers that
turned failures into -1 or 0 made a judge failure the rejected answer (PEERS.md).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from importlib import resources

SCORE_PATTERN = r"score\s*:\s*(-?\d+(?:\.\d+)?)"
PARSE_POLICIES = ("last", "first", "unique")


def load_prompt(name: str) -> str:
    """A prompt template shipped in ``srlm/prompts/<name>.txt`` (kept verbatim there)."""
    path = resources.files("srlm.prompts").joinpath(f"{name}.txt")
    if not path.is_file():
        available = sorted(
            p.name[:-4]
            for p in resources.files("srlm.prompts").iterdir()
            if p.name.endswith(".txt")
        )
        raise FileNotFoundError(
            f"no prompt template {name!r} in srlm/prompts (have: {', '.join(available)})"
        )
    return path.read_text(encoding="utf-8").rstrip("\n")


def parse_score(
    text: str | None,
    *,
    policy: str = "last",
    low: float = 0,
    high: float = 5,
    integer_only: bool = True,
    case_sensitive: bool = False,
    pattern: str = SCORE_PATTERN,
) -> float | None:
    """The score the judge wrote, or None when there is none we can trust.

    ``policy``: which ``Score:`` match counts when there are several ("last" is the paper's
    "conclude with"; "unique" rejects outputs whose matches disagree). Out-of-range values and,
    with ``integer_only``, fractional values (the rubric sums whole points) are failures.
    """
    if policy not in PARSE_POLICIES:
        raise ValueError(f"judge parse policy must be one of {PARSE_POLICIES}, got {policy!r}")
    if not text:
        return None
    flags = 0 if case_sensitive else re.IGNORECASE
    values = [m.group(1) for m in re.finditer(pattern, text, flags)]
    if not values:
        return None
    if policy == "unique":
        if len({float(v) for v in values}) != 1:
            return None
        raw = values[0]
    else:
        raw = values[-1] if policy == "last" else values[0]
    if integer_only and not re.fullmatch(r"-?\d+", raw):
        return None
    value = float(raw)
    if not low <= value <= high:
        return None
    return value


def mean_score(samples: list[float | None]) -> float | None:
    """The candidate's score: the mean of its parseable samples; None when it has none."""
    parsed = [s for s in samples if s is not None]
    return statistics.fmean(parsed) if parsed else None


@dataclass
class Judge:
    """One judge prompt and how to read its verdicts.

    ``template`` is the name of a file in ``srlm/prompts``; the placeholders are the literal
    strings the paper's prompt uses, so the files stay verbatim.
    """

    template: str = "judge_additive5"
    instruction_placeholder: str = "<INSTRUCTION_HERE>"
    response_placeholder: str = "<RESPONSE_HERE>"
    parse_policy: str = "last"
    score_min: float = 0
    score_max: float = 5
    integer_only: bool = True
    case_sensitive: bool = False
    num_samples: int = 3
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 128

    def __post_init__(self) -> None:
        self._text = load_prompt(self.template)
        for placeholder in (self.instruction_placeholder, self.response_placeholder):
            if placeholder not in self._text:
                raise ValueError(
                    f"judge template {self.template!r} has no placeholder {placeholder!r}"
                )
        if self.parse_policy not in PARSE_POLICIES:
            raise ValueError(
                f"judge.parse_policy must be one of {PARSE_POLICIES}, got {self.parse_policy!r}"
            )

    def render(self, instruction: str, response: str) -> str:
        # Replace the response last and in one pass each, so placeholder-like text inside the
        # instruction is never substituted twice.
        head, tail = self._text.split(self.response_placeholder, 1)
        head = head.replace(self.instruction_placeholder, instruction)
        tail = tail.replace(self.instruction_placeholder, instruction)
        return head + response + tail

    def parse(self, judgment: str | None) -> float | None:
        return parse_score(
            judgment,
            policy=self.parse_policy,
            low=self.score_min,
            high=self.score_max,
            integer_only=self.integer_only,
            case_sensitive=self.case_sensitive,
        )
