"""Store keys from content: what a stage's output depends on, hashed.

A stage's key covers the resolved values of the config paths it declares, the *content* of every
file those values name (a prompt template, a chat template, a DeepSpeed JSON, a local data file, a
local model directory), the keys of its upstream stages, its version and its parameters. So an
edited judge prompt or a re-downloaded checkpoint is new work, and everything else is found again.

Which config values do not change results is decided here, once (``NOT_RESULTS``): a batch size
for generation does not, the generation backend itself does (its samples differ).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# Config paths whose values never change a stage's output (also left out of run ids).
NOT_RESULTS = (
    "generation.backend.batch_size",
    "generation.backend.prefix_reuse",  # exact: the same tokens, computed once
    "generation.backend.enable_prefix_caching",
    "generation.backend.gpu_memory_utilization",
    "generation.backend.cpu_kvcache_gib",
    "generation.backend._partial_",
    "loop.isolation",
    "train.*.logging_steps",
    "train.*.max_micro_batch",  # the global batch is what counts: accumulation makes up the rest
    "train.*.progress_bar",
    "evaluator.max_concurrency",
    "evaluator.max_retries",
    "evaluator.timeout",
    "evaluator.retry_base_delay",
    "evaluator.retry_max_delay",
    "evaluator.client",
    "evaluator.batch_size",
)

# Top-level keys that only say where and how a run is shown, never what it computes.
RUN_ONLY = ("hydra", "logger", "dry_run", "threads", "paths", "name", "run_id", "debug")


def stable_hash(material: Any, length: int = 16) -> str:
    blob = json.dumps(material, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def changes_results(path: str) -> bool:
    return not any(fnmatch.fnmatchcase(path, pattern) for pattern in NOT_RESULTS)


def lookup(config: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path; KeyError naming the path when it is absent."""
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"config has no key {path!r}")
        node = node[part]
    return node


def leaves(value: Any, prefix: str) -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for k in sorted(value):
            yield from leaves(value[k], f"{prefix}.{k}")
    else:
        yield prefix, value


class FileHashes:
    """sha256 of files and directories; a big file's hash is cached by (size, mtime)."""

    BIG = 8 << 20

    def __init__(self, cache_path: Path | None = None, writable: bool = True):
        self.cache_path, self.writable = cache_path, writable
        self._cache: dict[str, str] = {}
        if cache_path is not None and cache_path.exists():
            try:
                self._cache = json.loads(cache_path.read_text())
            except (OSError, json.JSONDecodeError):
                self._cache = {}
        self._dirty = False

    def of(self, path: Path) -> str:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _content(p, path))
            return stable_hash({p.relative_to(path).as_posix(): self._file(p) for p in files})
        return self._file(path)

    def _file(self, path: Path) -> str:
        st = path.stat()
        if st.st_size < self.BIG:
            return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        tag = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
        if tag not in self._cache:
            h = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
            self._cache[tag] = h.hexdigest()[:16]
            self._dirty = True
        return self._cache[tag]

    def save(self) -> None:
        if self._dirty and self.writable and self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_name(f".{self.cache_path.name}.{os.getpid()}")
            tmp.write_text(json.dumps(self._cache, sort_keys=True))
            os.replace(tmp, self.cache_path)
            self._dirty = False


def _content(file: Path, root: Path) -> bool:
    """A file of a model or data directory, not a hidden file, a partial or a checkpoint."""
    parts = file.relative_to(root).parts
    return not any(
        part.startswith(".") or part.endswith(".partial") or part.startswith("checkpoint-")
        for part in parts
    )


def _names_a_file(value: Any) -> Path | None:
    if not isinstance(value, str) or not value or "\n" in value or len(value) > 1024:
        return None
    path = Path(value).expanduser()
    try:
        return path if path.exists() else None
    except OSError:
        return None


def material(
    config: Mapping[str, Any],
    reads: Iterable[str],
    texts: Mapping[str, str],
    hashes: FileHashes,
) -> dict[str, str]:
    """One digest per input: ``config:<path>`` for values, ``file:<path>`` for file contents.

    ``reads`` are dotted config paths; a path starting with ``!`` is left out (``data`` but not
    ``data.use_eft``). ``texts`` gives the text behind a value that names something that is not
    a file (a packaged judge template, a built-in chat template).
    """
    excluded = tuple(r[1:] for r in reads if r.startswith("!"))
    out: dict[str, str] = {}
    for path in (r for r in reads if not r.startswith("!")):
        try:
            tree = lookup(config, path)
        except KeyError:  # a path of another option (data.min_len with data=oasst): absent
            out[f"config:{path}"] = "absent"
            continue
        for leaf, value in leaves(tree, path):
            if not changes_results(leaf) or leaf.startswith(excluded):
                continue
            out[f"config:{leaf}"] = stable_hash(value)
            if leaf in texts:
                out[f"file:{leaf}"] = stable_hash(texts[leaf])
            elif (file := _names_a_file(value)) is not None:
                out[f"file:{leaf}"] = hashes.of(file)
    return out


def run_id_overrides(overrides: Iterable[str]) -> list[str]:
    """The overrides that change results: the rest do not belong in a run's id."""
    kept = []
    for o in overrides:
        key = o.lstrip("+~").split("=", 1)[0]
        if key.split(".")[0].split("/")[0] in RUN_ONLY or not changes_results(key):
            continue
        kept.append(o)
    return sorted(kept)
