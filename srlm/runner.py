"""The one stage runner: keying, locking, skipping, timing, recording and logging.

``Runner.run(STAGE, label, inputs..., params...)`` computes the stage's key from its declaration
(``srlm.keys.material``), takes the store lock, skips a stage that is done, runs its body
otherwise, publishes its outputs, records it in ``stages.json`` and says so on the console. With
``plan_only`` it runs nothing and writes nothing: it lists each stage, its key, whether it is done,
and for work to do, which input changed since the run directory's last record.
"""

from __future__ import annotations

import gc
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srlm.artifacts import Stage as StoreEntry
from srlm.artifacts import read_json, write_json
from srlm.keys import FileHashes, material, stable_hash
from srlm.stages.base import Context, DeclaredConfig, Result, StageDef

log = logging.getLogger("srlm")


@dataclass
class Components:
    """What Hydra builds from the config (in run.py) and the stages use; no paths, no Hydra."""

    judge: Any
    select: Callable
    evaluator: Any
    load_generator: Callable[..., Any]


class ModelPool:
    """M_t as (generator, tokenizer); one model loaded at a time, closed when swapped."""

    def __init__(self, load_generator: Callable[..., Any], chat_template: str | None):
        self.load_generator, self.chat_template = load_generator, chat_template
        self.path: str | None = None
        self.loaded: tuple[Any, Any] | None = None

    def get(self, path: str):
        if self.path != path or self.loaded is None:
            from srlm.models.loading import load_tokenizer

            self.close()
            self.loaded = (
                self.load_generator(model_path=path),
                load_tokenizer(path, self.chat_template),
            )
            self.path = path
        return self.loaded

    def close(self) -> None:
        """Release the loaded model (a vLLM engine holds its memory until closed)."""
        if self.loaded is not None:
            close = getattr(self.loaded[0], "close", None)
            if close is not None:
                close()
        self.loaded, self.path = None, None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


class Runner:
    def __init__(
        self,
        config: dict[str, Any],
        store: Path,
        components: Components,
        texts: dict[str, str],
        run_dir: Path | None = None,
        plan_only: bool = False,
    ):
        self.config, self.store, self.components = config, Path(store), components
        self.texts, self.run_dir, self.plan_only = texts, run_dir, plan_only
        self.hashes = FileHashes(self.store / ".file_hashes.json", writable=not plan_only)
        self.models = ModelPool(components.load_generator, config["model"].get("chat_template"))
        self.records: list[dict[str, Any]] = []
        self.previous = _previous_records(run_dir)

    # -- one stage ----------------------------------------------------------------------------

    def run(
        self, stage: StageDef, label: str = "", params: dict[str, Any] | None = None, **inputs
    ) -> Result:
        if set(inputs) != set(stage.inputs):
            raise TypeError(
                f"stage {stage.name}: inputs {sorted(inputs)} given, {sorted(stage.inputs)} declared"
            )
        params = params or {}
        digests = self.digests(stage, params, inputs)
        key = stable_hash({"stage": stage.name, **digests})
        entry = StoreEntry(self.store, stage.name, key, digests)
        if self.plan_only:
            return self._plan(stage, label, key, entry, digests)
        started = time.perf_counter()
        with entry:
            if not entry.done:
                self.hashes.save()
                ctx = Context(
                    stage,
                    DeclaredConfig(stage.name, self.config, stage.reads),
                    inputs,
                    params,
                    entry,
                    self.components,
                    self.models,
                    label,
                )
                metrics = stage.body(ctx) or {}
                for name in stage.outputs:
                    if entry.partial(name).exists():
                        entry.publish(name)
                    if not entry.path(name).exists():
                        raise RuntimeError(f"stage {stage.name} did not write its output {name}")
                    shutil.rmtree(entry.dir / f"{name}.partial.checkpoints", ignore_errors=True)
                entry.finish(metrics, info=ctx.info)
            info = entry.info
        seconds = time.perf_counter() - started
        result = Result(
            stage.name,
            key,
            entry.dir,
            label,
            entry.executed,
            True,
            info.get("metrics", {}),
            info.get("info", {}),
        )
        self._record(result, seconds, digests)
        return result

    def digests(self, stage: StageDef, params: dict[str, Any], inputs: dict[str, Any]):
        digests = material(self.config, stage.reads, self.texts, self.hashes)
        digests["version"] = str(stage.version)
        for role in sorted(inputs):
            digests[f"input:{role}"] = stable_hash(_keys(inputs[role]))
        for name in sorted(params):
            digests[f"param:{name}"] = stable_hash(params[name])
        return digests

    # -- records ------------------------------------------------------------------------------

    def _record(self, result: Result, seconds: float, digests: dict[str, str]) -> None:
        self.records.append(
            {
                "stage": result.name,
                "model": result.label,
                "key": result.key,
                "executed": result.executed,
                "seconds": round(seconds, 2),
                "inputs": digests,
            }
        )
        if self.run_dir is not None:
            write_json(self.run_dir / "stages.json", self.records)
        where = f"{result.label} · {result.name}" if result.label else result.name
        if result.executed:
            log.info("%s: computed in %.1f s", where, seconds)
        else:
            log.info("%s: done already, reused (%s)", where, result.key)

    def _plan(self, stage, label, key, entry, digests) -> Result:
        done = entry.done
        reason = "" if done else self._why(stage.name, label, digests, entry)
        self.records.append(
            {"stage": stage.name, "model": label, "key": key, "done": done, "why": reason}
        )
        info = entry.info if done else {}
        return Result(
            stage.name,
            key,
            entry.dir,
            label,
            False,
            done,
            info.get("metrics", {}),
            info.get("info", {}),
        )

    def _why(self, name: str, label: str, digests: dict[str, str], entry: StoreEntry) -> str:
        if entry.dir.exists():
            return "started before, not finished: resumes"
        before = self.previous.get((name, label))
        if before is None:
            return "new"
        changed = [k for k in sorted(set(before) | set(digests)) if before.get(k) != digests.get(k)]
        if not changed:
            return "not in the store"
        return "changed: " + ", ".join(_describe(k) for k in changed)

    def plan_table(self) -> str:
        rows = [("model", "stage", "key", "status")]
        for r in self.records:
            status = "done (reused)" if r["done"] else f"to compute ({r['why']})"
            rows.append((r["model"] or "-", r["stage"], r["key"], status))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3]
            for row in rows
        )

    def close(self) -> None:
        self.models.close()
        self.hashes.save()


def _keys(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return [_keys(v) for v in value]
    return value.key


def _describe(digest_name: str) -> str:
    kind, _, what = digest_name.partition(":")
    return {
        "config": f"{what} (value)",
        "file": f"{what} (file content)",
        "input": f"upstream {what}",
        "param": what,
    }.get(kind, "stage version" if digest_name == "version" else digest_name)


def _previous_records(run_dir: Path | None) -> dict[tuple[str, str], dict[str, str]]:
    path = run_dir / "stages.json" if run_dir else None
    if path is None or not path.exists():
        return {}
    try:
        return {
            (r["stage"], r.get("model", "")): r.get("inputs", {})
            for r in read_json(path)
            if isinstance(r, dict)
        }
    except (OSError, ValueError):
        return {}
