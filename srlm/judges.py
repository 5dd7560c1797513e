"""LLM-as-a-Judge: render the judge prompt, parse "Score: N" from the judge's own text, aggregate.

The judge knows nothing about models, paths of the run or Hydra: the judge stage feeds it
generated texts. A judgment that cannot be parsed is ``None`` (counted, reported), never a
number: peers that turned failures into -1 or 0 made a judge failure the rejected answer.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PARSE_POLICIES = ("last", "first", "unique")

# Markdown emphasis a judge may wrap around the label and/or the number: **, *, __, _.
_EMPHASIS = r"(?:\*\*|\*|__|_)?"
# A number glued to more of itself: a digit (any script, so "4\uff15" is no "4"), or "." / ","
# then a digit. Each number below is followed by a negative lookahead on this, so a regex
# backtrack can never shorten "1,000" to "1" or "4.5" to "4": the token is read whole or not.
_MORE = r"[.,]?(?u:\d)"
_SCALE_WORD = r"[ \t]*(?:/|out[ \t]+of)[ \t]*"
# The label "score", not preceded by an ASCII letter, digit or "_" (a word ending in "score":
# "Underscore:", "my_score:"; Markdown's "__" is matched by _EMPHASIS, not taken as a word),
# then ":", then on the same line the number token as the judge wrote it (validated by
# parse_score, so "1,000" or "4.5.1" fails whole), then an optional scale ("4/5", "4 out of 5"),
# and no letter glued to the end ("3rd", "4points"). Digits are ASCII [0-9] (see parse_score).
SCORE_PATTERN = (
    r"(?<![A-Za-z0-9_])"
    + _EMPHASIS
    + r"Score"  # the paper's spelling: what case_sensitive=True demands
    + _EMPHASIS
    + r"[ \t]*:"
    + _EMPHASIS
    + r"[ \t]*"
    + _EMPHASIS
    + rf"(?P<value>-?[0-9]+(?:[.,][0-9]+)*)(?!{_MORE})"
    + rf"(?:{_SCALE_WORD}(?P<scale>[0-9]+)(?!{_MORE})|(?!{_SCALE_WORD}(?u:\d)))"
    + r"(?![A-Za-z])"
)


def packaged_prompts() -> list[str]:
    """Names of the prompt templates shipped in ``srlm/prompts`` (``<name>.txt``)."""
    return sorted(
        p.name[:-4] for p in resources.files("srlm.prompts").iterdir() if p.name.endswith(".txt")
    )


def load_prompt(name: str) -> str:
    """A prompt template shipped in ``srlm/prompts/<name>.txt`` (kept verbatim there)."""
    path = resources.files("srlm.prompts").joinpath(f"{name}.txt")
    if not path.is_file():
        raise FileNotFoundError(
            f"no prompt template {name!r} in srlm/prompts (have: {', '.join(packaged_prompts())})"
        )
    return path.read_text(encoding="utf-8").rstrip("\n")


_PACKAGED_NAME = re.compile(r"[A-Za-z0-9_-]+")


def resolve_template(template: str, placeholders: tuple[str, ...] = ()) -> tuple[str, str]:
    """``(text, source)`` of a judge template given as a packaged name, a file path or inline text.

    The rule, applied in this order, decided by the string's form alone (never by which files
    happen to exist, so one string always means the same thing):

    1. **inline text** if it contains a newline or any of ``placeholders``; source ``"inline"``.
    2. **packaged name** if it is only letters, digits, ``_`` and ``-`` (no ``/``, ``.`` or
       ``~``): ``srlm/prompts/<name>.txt``; source ``"packaged <name>"``. A file of that bare
       name in the current directory is *not* looked at: write ``./name`` for it.
    3. otherwise a **file path**: ``~`` is expanded, a relative path is taken from the current
       directory (the launch directory: the config sets ``hydra.job.chdir: false``); source
       ``"file <absolute path>"``.

    A name or path that names nothing raises ``FileNotFoundError`` with one line naming it and
    the packaged names. Trailing newlines are stripped from every source (as for the packaged
    files), so a file saved with or without a final newline gives the same text.
    """
    if not isinstance(template, str) or not template.strip():
        raise ValueError(f"judge template must be a non-empty string, got {template!r}")
    if "\n" in template or any(p and p in template for p in placeholders):
        return template.rstrip("\n"), "inline"
    if _PACKAGED_NAME.fullmatch(template):
        if template not in packaged_prompts():
            raise FileNotFoundError(
                f"judge template {template!r}: no packaged prompt of that name (have: "
                f"{', '.join(packaged_prompts())}); for a file here, write ./{template}"
            )
        return load_prompt(template), f"packaged {template}"
    path = Path(template).expanduser().absolute()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise FileNotFoundError(
            f"judge template {template!r}: {what} ({path}), and not a packaged name "
            f"(have: {', '.join(packaged_prompts())})"
        )
    return path.read_text(encoding="utf-8").rstrip("\n"), f"file {path}"


def _match_value(match: re.Match, *, low: float, high: float, integer_only: bool) -> float | None:
    """The value of one ``Score:`` match, or None when the token is not a score we accept."""
    raw = match.group("value") if "value" in match.re.groupindex else match.group(1)
    number = re.fullmatch(r"(-?[0-9]+)(?:\.([0-9]+))?", raw)
    if number is None:  # "1,000", "3,5", "4.5.1": never a prefix of it
        return None
    if integer_only and number.group(2) and number.group(2).strip("0"):
        return None  # a true fraction; "4.0" and "5.00" are whole points
    value = float(raw) + 0.0  # + 0.0: "-0" reads 0.0
    if not low <= value <= high:
        return None
    scale = match.groupdict().get("scale")
    if scale is not None and float(scale) != high:
        return None  # "4/10" on a 0-5 rubric is not 4
    return value


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

    What counts as a ``Score:`` match (:data:`SCORE_PATTERN`):

    - the label ``Score`` (any case; exactly ``Score``, the paper's spelling, with
      ``case_sensitive``) not preceded by an ASCII letter, digit or ``_`` (``Underscore: 3`` and
      ``my_score: 3`` are not scores), then ``:`` and the number on the same line
      (``Justification for the score:\n1. Relevance ...`` is not a score of 1);
    - Markdown emphasis (``**``, ``*``, ``__``, ``_``) around the label and/or the number:
      ``**Score:** 3``, ``**Score**: 3``, ``Score: **3**``, ``**Score: 3**``, ``__Score:__ 3``;
    - the number as one token: ``4``, ``4.0``, ``4.`` (a sentence's period), ``4 points``; an
      optional scale ``4/5`` or ``4 out of 5`` whose denominator must equal ``high`` (``4/10``
      on a 0-5 rubric is rejected); a letter glued to the number (``3rd``) rejects it.

    A match whose token is not a plain number (``1,000``, ``3,5``) is rejected whole, never read
    as its prefix; so are out-of-range values and, with ``integer_only`` (the rubric sums whole
    points), true fractions (``4.5``; integral ``4.0``/``5.00`` are whole points and read 4, 5).

    Digits are ASCII only. Python's ``\\d`` and ``float`` accept full-width (``５``),
    Arabic-Indic and other Unicode digits; the prompt asks for ``Score: <total points>`` in
    plain digits, so a judge writing anything else did not follow the format, and counting it as
    a parse failure shows that in the failure rate instead of silently converting it. The label
    is ASCII too (``re.ASCII``: under Unicode case folding ``ſcore`` would match ``score``).

    ``policy``: which match counts when there are several: ``"last"`` (the paper's "conclude
    with"), ``"first"``, or ``"unique"`` (every match must be valid and agree). The chosen match
    is final: if it is rejected the result is None, with no fall-back to another match.
    """
    if policy not in PARSE_POLICIES:
        raise ValueError(f"judge parse policy must be one of {PARSE_POLICIES}, got {policy!r}")
    if not text:
        return None
    flags = re.ASCII | (0 if case_sensitive else re.IGNORECASE)
    matches = list(re.finditer(pattern, text, flags))
    if not matches:
        return None
    if policy == "unique":
        values = {_match_value(m, low=low, high=high, integer_only=integer_only) for m in matches}
        return values.pop() if len(values) == 1 else None
    chosen = matches[-1] if policy == "last" else matches[0]
    return _match_value(chosen, low=low, high=high, integer_only=integer_only)


def mean_score(samples: list[float | None]) -> float | None:
    """The candidate's score: the mean of its parseable samples; None when it has none."""
    parsed = [s for s in samples if s is not None]
    return statistics.fmean(parsed) if parsed else None


@dataclass
class Judge:
    """One judge prompt and how to read its verdicts.

    ``template`` is a packaged name (``judge_additive5``: ``srlm/prompts/<name>.txt``), a file
    path (absolute, ``~/...``, or relative to the current directory: ``./my_judge.txt``), or
    inline text (anything with a newline or a placeholder); the exact rule is
    :func:`resolve_template`. The placeholders are the literal strings the prompt uses (the
    paper's, so the packaged files stay verbatim); both must occur in the template.

    The template is read once, at construction: :attr:`text` is what :meth:`render` fills in
    (and what a store key should hash), :attr:`source` says where it came from, for logs. Both
    are plain attributes, not dataclass fields: the fields are exactly the YAML's keys. A pickled
    Judge carries its text (unpickling does not read the file again).
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
        if self.parse_policy not in PARSE_POLICIES:
            raise ValueError(
                f"judge.parse_policy must be one of {PARSE_POLICIES}, got {self.parse_policy!r}"
            )
        placeholders = (self.instruction_placeholder, self.response_placeholder)
        if not all(placeholders) or self.instruction_placeholder == self.response_placeholder:
            raise ValueError(f"judge placeholders must be two different strings: {placeholders}")
        self._text, self._source = resolve_template(self.template, placeholders)
        for placeholder in placeholders:
            if placeholder not in self._text:
                raise ValueError(
                    f"judge template ({self._source}) has no placeholder {placeholder!r}"
                )

    @property
    def text(self) -> str:
        """The template's text, placeholders unfilled: exactly what :meth:`render` fills in."""
        return self._text

    @property
    def source(self) -> str:
        """Where the template came from: ``packaged <name>``, ``file <path>`` or ``inline``."""
        return self._source

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
