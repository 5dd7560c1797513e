"""The evaluator interface and what every pairwise judge shares.

An evaluator answers, for a batch of (instruction, output_1, output_2), which output is better:
"first", "second", "tie", or None when it could not say (counted as a failure, never a win).
The head-to-head stage calls it with both orders and combines them
(``srlm.eval.head_to_head.combine_orders``). Evaluators know nothing of paths or Hydra; one that
caches (the API judge) is handed a cache file by the stage.

Shared here: the AlpacaEval 2.0 pairwise prompt and its verdict parser (the API judge and the
local judge ask the same question and read the answer the same way), and the JSONL answer cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srlm.judges import load_prompt

log = logging.getLogger(__name__)

Item = tuple[str, str, str]  # instruction, output_1, output_2


class Evaluator:
    """Base: ``compare`` one batch; ``available`` says whether head-to-head can run at all."""

    available = True
    order_independent = False

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        raise NotImplementedError


class NoEvaluator(Evaluator):
    """No judge configured: head-to-head is skipped (and said so in the log)."""

    available = False

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        return [None] * len(items)


# --------------------------------------------------------------------------------------------
# The AlpacaEval 2.0 pairwise prompt, shared by the API judge and the local judge.
# --------------------------------------------------------------------------------------------

PAIRWISE_PROMPT = "alpaca_eval_pairwise"
"""``srlm/prompts/alpaca_eval_pairwise.txt``: the prompt of ``weighted_alpaca_eval_gpt4_turbo``
(AlpacaEval 2.0's default annotator, whose leaderboard the paper's Table 1 quotes), i.e.
tatsu-lab/alpaca_eval ``src/alpaca_eval/evaluators_configs/alpaca_eval_clf_gpt4_turbo/
alpaca_eval_clf.txt``. The judge answers one model identifier: ``m`` (output_1) or ``M``
(output_2); AlpacaEval reads only that first token, so there is no tie.

Provenance: everything up to ``## Task`` is byte-identical to the sibling
``alpaca_eval_clf_cot_gpt4_turbo/alpaca_eval_clf.txt`` (tatsu-lab/alpaca_eval @ d07b909), which
shares it; the ``## Task`` paragraph and ``## Best Model Identifier`` ending are the non-CoT
wording, identical in every public copy of this file consulted (the file itself was not
retrievable here)."""

_PLACEHOLDER = re.compile(r"\{(instruction|output_1|output_2)\}")
_STRIP = " \t\r\n\"'`*.:;,!()[]<>"
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_'\u2019])([mM])(?![A-Za-z0-9_'\u2019])")
_VERDICT_OF_IDENTIFIER = {"m": "first", "M": "second"}


def render_pairwise_prompt(
    instruction: str, output_1: str, output_2: str, template: str | None = None
) -> str:
    """The filled ChatML-style prompt text (the cache key is computed from exactly this text).

    One pass over the placeholders, so an instruction that happens to contain ``{output_1}`` is
    not itself substituted (alpaca_eval's sequential ``str.replace`` would; otherwise identical).
    """
    template = load_prompt(PAIRWISE_PROMPT) if template is None else template
    values = {"instruction": instruction, "output_1": output_1, "output_2": output_2}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def prompt_to_messages(prompt: str) -> list[dict[str, str]]:
    """Chat messages from ``<|im_start|>role ... <|im_end|>`` text, as alpaca_eval's
    ``utils.prompt_to_chatml`` builds them for chat models (role line, stripped content)."""
    messages = []
    for block in prompt.strip().split("<|im_start|>")[1:]:
        role, _, rest = block.partition("\n")
        messages.append({"role": role.strip(), "content": rest.split("<|im_end|>", 1)[0].strip()})
    if not messages:
        raise ValueError("pairwise prompt has no <|im_start|>role blocks")
    return messages


def parse_verdict(text: str | None) -> str | None:
    """``"first"`` for ``m``, ``"second"`` for ``M``; None when the answer names neither.

    The answer stripped of quotes/punctuation, or else its first word, decides (AlpacaEval reads
    the first token). Chattier local judges get one fallback: the text's standalone ``m``/``M``
    identifiers, if they all agree. Case matters: ``m`` and ``M`` are different models.
    """
    if not text:
        return None
    stripped = text.strip(_STRIP)
    if stripped in _VERDICT_OF_IDENTIFIER:
        return _VERDICT_OF_IDENTIFIER[stripped]
    words = stripped.split()
    first = words[0].strip(_STRIP) if words else ""
    if first in _VERDICT_OF_IDENTIFIER:
        return _VERDICT_OF_IDENTIFIER[first]
    found = set(_IDENTIFIER.findall(text))
    if len(found) == 1:
        return _VERDICT_OF_IDENTIFIER[found.pop()]
    return None


# --------------------------------------------------------------------------------------------
# Answer cache: JSONL, one line per answer, appended as answers arrive.
# --------------------------------------------------------------------------------------------


def cache_key(model: str, prompt: str) -> str:
    """What an answer is cached under: the judge model and the exact prompt text."""
    blob = json.dumps([model, prompt], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """``{"key", "model", "completion"}`` lines. A resumed run re-asks nothing it has; the last
    line torn by a crash is ignored (and cut off before the next append). Raw completions are
    stored, and parsed on use, so a parser change needs no new API calls."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._checked_tail = False

    def load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        lines = self.path.read_bytes().split(b"\n")
        answers: dict[str, str] = {}
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if i == len(lines) - 1:  # no newline after it: a torn final write
                    log.warning("%s: ignoring a torn last line", self.path)
                    continue
                raise ValueError(f"{self.path}:{i + 1}: not valid JSON (corrupt cache)") from None
            if not (
                isinstance(record, dict)
                and isinstance(record.get("key"), str)
                and isinstance(record.get("completion"), str)
            ):
                raise ValueError(f"{self.path}:{i + 1}: expected {{key, completion}} strings")
            answers[record["key"]] = record["completion"]
        return answers

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._checked_tail:
            self._cut_torn_tail()
            self._checked_tail = True
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            os.truncate(self.path, data.rfind(b"\n") + 1)
