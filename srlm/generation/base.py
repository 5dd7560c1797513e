"""What every generation backend offers: ``generate(prompts, sampling) -> list[list[str]]``.

Prompts are finished strings (chat template already applied by the caller), so the same backend
serves the policy, the judge and the base model continuing a Self-Instruct list.

Each completion is a :class:`Completion`: a ``str`` that also says why the generation stopped
(``finish_reason``: "stop" = end of sequence or a stop string, "length" = ``max_new_tokens`` ran
out first), so a judgment or a Self-Instruct list cut off by the token limit is told apart from
one the model finished. Callers that only want the text use it as a plain string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

STOP = "stop"  # the model ended it: end of sequence, or a stop string
LENGTH = "length"  # max_new_tokens ran out first: the text may be cut mid-sentence


class Completion(str):
    """Generated text (a ``str``) with ``finish_reason``: "stop", "length" or None (unknown).

    Slicing or concatenating gives a plain ``str`` (the reason belongs to the whole completion);
    JSON writes it as its text, so stages that must remember the reason store it beside the text.
    """

    finish_reason: str | None

    def __new__(cls, text: str, finish_reason: str | None = None) -> Completion:
        self = super().__new__(cls, text)
        self.finish_reason = finish_reason
        return self

    def __reduce__(self):
        return (Completion, (str(self), self.finish_reason))


def cut_off(text: str) -> bool:
    """True when ``text`` is a completion that stopped at the token limit (not known: False)."""
    return getattr(text, "finish_reason", None) == LENGTH


@dataclass(frozen=True)
class Sampling:
    """Per-call sampling values: they belong to the stage that samples, not to the backend."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 64
    seed: int = 0
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


class Generator(Protocol):
    def generate(self, prompts: list[str], sampling: Sampling) -> list[list[str]]:
        """``sampling.n`` completions for each prompt, in prompt order (``Completion`` objects)."""
        ...

    def close(self) -> None:
        """Free the model (and its GPU memory or engine); called when the loop swaps models."""
        ...


def apply_stop(text: str, stop: tuple[str, ...]) -> str:
    """Cut a completion at the first stop string (backends that cannot stop on strings)."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
