"""The content-addressed stage store: atomic outputs, done markers, row-level resume, locks.

A stage's key is a hash of everything its output depends on (``srlm.keys``), so identical work is
found again by any run or any job of a sweep: ``<store>/<stage>/<key>/``. The ``_done.json`` marker is written last; a stage without it is
redone, and its append-only JSONL files let an interrupted generation continue row by row.
A file lock per key makes two jobs that need the same stage at the same time compute it once.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

logger = logging.getLogger(__name__)

DONE = "_done.json"


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def parse_jsonl(text: str, name: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` per non-blank line; a bad line raises ValueError naming it:
    ``name:LINE: not valid JSON (...)``. Split on "\n" only: ``str.splitlines()`` also splits
    at U+2028, which JSON written with ``ensure_ascii=False`` leaves raw."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{name}:{lineno}: not valid JSON ({e.msg})") from None


def read_text(path: str | Path) -> str:
    """A text file's content, gunzipped when it is gzip (by its magic bytes, not its name)."""
    raw = Path(path).read_bytes()
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """The one JSONL reader of srlm: ``(line number, value)`` per row of a .jsonl(.gz) file."""
    return parse_jsonl(read_text(path), path)


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSONL (or gzipped) file; a bad line names the file and the line."""
    return [row for _, row in iter_jsonl(path)]


class RowLog:
    """An append-only JSONL of rows with stable ids: what is written survives a crash.

    A torn last line (a kill mid-write) is dropped on reopen, then appending continues.
    """

    def __init__(self, path: Path, id_key: str = "id"):
        self.path, self.id_key = path, id_key
        self.rows: dict[str, dict] = {}
        if path.exists():
            good = []
            # split on "\n" only: str.splitlines() also splits at U+2028, which JSON leaves raw
            for line in path.read_text(encoding="utf-8").split("\n"):
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    break
                self.rows[row[id_key]] = row
                good.append(line)
            path.write_text("".join(g + "\n" for g in good), encoding="utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()  # an empty input still yields a (published) empty output

    def __contains__(self, row_id: str) -> bool:
        return row_id in self.rows

    def extend(self, rows: Iterable[dict]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                self.rows[row[self.id_key]] = row
            f.flush()
            os.fsync(f.fileno())


class Stage:
    """One unit of work in the store: ``with Stage(store, name, key, material) as st: ...``.

    Inside the block, ``st.done`` says whether the work exists already; otherwise write into
    ``st.dir`` (``st.partial(name)`` for files that grow row by row) and call ``st.finish()``.
    """

    def __init__(self, store: Path, name: str, key: str, material: dict[str, Any]):
        self.name = name
        self.material = material
        self.key = key
        self.dir = Path(store) / name / self.key
        self._lock = FileLock(str(Path(store) / name / f"{self.key}.lock"))
        self.executed = False

    def __enter__(self) -> Stage:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    @property
    def done(self) -> bool:
        return (self.dir / DONE).exists()

    @property
    def info(self) -> dict[str, Any]:
        return read_json(self.dir / DONE)

    def path(self, name: str) -> Path:
        return self.dir / name

    def partial(self, name: str) -> Path:
        return self.dir / f"{name}.partial"

    def publish(self, name: str) -> Path:
        """Move a finished partial file or folder to its final name."""
        final = self.dir / name
        if final.exists():
            shutil.rmtree(final) if final.is_dir() else final.unlink()
        os.replace(self.partial(name), final)
        return final

    def finish(self, metrics: dict[str, Any] | None = None, **extra: Any) -> None:
        self.executed = True
        write_json(
            self.dir / DONE,
            {
                "stage": self.name,
                "key": self.key,
                "finished": time.time(),
                "metrics": metrics or {},
                "material": self.material,
                **extra,
            },
        )


def iter_batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def resumable_map(
    items: list[dict], fn, log: RowLog, chunk_size: int = 256, id_key: str = "id"
) -> list[dict]:
    """Apply ``fn(list_of_items) -> list_of_rows`` to the items ``log`` does not hold yet.

    Rows are appended chunk by chunk, so a crash loses at most one chunk; the result is in the
    order of ``items``.
    """
    todo = [it for it in items if it[id_key] not in log]
    if len(todo) < len(items):
        logger.info(
            "%s: resuming, %d rows already done, %d to go",
            log.path.name.removesuffix(".partial"),
            len(items) - len(todo),
            len(todo),
        )
    for batch in iter_batches(todo, chunk_size):
        log.extend(fn(batch))
    return [log.rows[it[id_key]] for it in items]
