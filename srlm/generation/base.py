"""What every generation backend offers: ``generate(prompts, sampling) -> list[list[str]]``.

Prompts are finished strings (chat template already applied by the caller), so the same backend
serves the policy, the judge and the base model continuing a Self-Instruct list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
        """``sampling.n`` completions for each prompt, in prompt order."""
        ...


def apply_stop(text: str, stop: tuple[str, ...]) -> str:
    """Cut a completion at the first stop string (backends that cannot stop on strings)."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]
