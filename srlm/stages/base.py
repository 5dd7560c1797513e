"""What a stage is: a declaration (``StageDef``) and what its body sees (``Context``).

A stage declares its name, a version (bumped when its output changes for the same inputs), the
config paths it reads, its upstream stages and its outputs. ``srlm.runner`` turns that into a
store key, a lock, a skip or a run, a timing and a record; the body only does the work, from the
config paths it declared (reading any other fails) and the files of its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srlm.artifacts import RowLog, read_jsonl, write_jsonl
from srlm.keys import lookup

# What a stage that generates with a model reads: the backend (its samples differ), the chat
# template the prompts are put in, and the run seed its sampling seeds derive from.
GENERATION = ("generation.backend", "model.chat_template", "seed")


class UndeclaredConfigError(KeyError):
    """A stage body read a config path it did not declare (its key would miss that input)."""


@dataclass(frozen=True)
class StageDef:
    name: str
    version: int
    reads: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    body: Callable[[Context], dict[str, float] | None]
    doc: str = ""

    def __post_init__(self) -> None:
        if "model" in self.outputs and self.outputs[-1] != "model":
            raise ValueError(f"stage {self.name}: 'model' must be its last output")


@dataclass
class Result:
    """A stage's outputs in the store (or, in a dry run, where they would be)."""

    name: str
    key: str
    dir: Path
    label: str = ""
    executed: bool = False
    done: bool = True
    metrics: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.dir / name

    def rows(self, name: str) -> list[dict]:
        """The rows of one of its JSONL outputs (``[]`` for an output this data has not)."""
        path = self.path(f"{name}.jsonl")
        return read_jsonl(path) if path.exists() else []

    @property
    def model(self) -> str:
        """The model directory (or hub id) of a stage that makes or names a model."""
        return self.info.get("model_path") or str(self.dir / "model")


class DeclaredConfig:
    """The part of the resolved config a stage declared; anything else raises."""

    def __init__(self, stage: str, config: Mapping[str, Any], reads: tuple[str, ...]):
        self.stage, self._config = stage, config
        self._reads = tuple(r for r in reads if not r.startswith("!"))
        self._hidden = tuple(r[1:] for r in reads if r.startswith("!"))

    def __call__(self, path: str, default: Any = ...) -> Any:
        declared = any(path == r or path.startswith(f"{r}.") for r in self._reads)
        if not declared or any(path == h or path.startswith(f"{h}.") for h in self._hidden):
            raise UndeclaredConfigError(
                f"stage {self.stage!r} reads {path!r} but does not declare it "
                f"(declared: {', '.join(self._reads)})"
            )
        try:
            value = lookup(self._config, path)
        except KeyError:
            if default is ...:
                raise
            return default
        for hidden in (h for h in self._hidden if h.startswith(f"{path}.")):
            value = _without(value, hidden[len(path) + 1 :].split("."))
        return value


def _without(tree: Any, parts: list[str]) -> Any:
    """A copy of a nested mapping without the key at ``parts`` (a value the stage must not see)."""
    if not isinstance(tree, Mapping) or parts[0] not in tree:
        return tree
    if len(parts) == 1:
        return {k: v for k, v in tree.items() if k != parts[0]}
    return {**tree, parts[0]: _without(tree[parts[0]], parts[1:])}


class Context:
    """Everything a stage body gets: declared config, inputs, components, its output folder."""

    def __init__(
        self,
        stage: StageDef,
        config: DeclaredConfig,
        inputs: dict[str, Any],
        params: dict[str, Any],
        entry,
        components,
        models,
        label: str,
    ):
        self.stage, self.cfg, self.inputs, self.params = stage, config, inputs, params
        self.entry, self.components, self.models, self.label = entry, components, models, label
        self.info: dict[str, Any] = {}

    @property
    def seed(self) -> int:
        return int(self.cfg("seed"))

    def path(self, name: str) -> Path:
        return self.entry.path(name)

    def partial(self, name: str) -> Path:
        return self.entry.partial(name)

    def publish(self, name: str) -> Path:
        return self.entry.publish(name)

    def row_log(self, name: str) -> RowLog:
        """An append-only log of rows for output ``name``; published when the body returns."""
        return RowLog(self.partial(name))

    def write_rows(self, name: str, rows: list[dict]) -> None:
        write_jsonl(self.path(name), rows)

    def desc(self, what: str) -> str:
        """A progress-bar label that says which model the work is for."""
        return f"{self.label} {what}".strip()

    def generator(self, ref: str, what: str):
        """(generator, tokenizer) for model ``ref``, its progress bar labelled with ``what``."""
        gen, tok = self.models.get(ref)
        if hasattr(gen, "desc"):
            gen.desc = self.desc(what)
        return gen, tok
