"""The repository carries its own docs.

1. No file of the repository sends a reader to notes that live outside it: the team's reference
   notes (by file name) or the folder next to the checkout that holds them. Tests may still read
   that folder's ``data/`` at run time, and skip when it is absent.
2. Every relative Markdown link in README.md, docs/*.md and experiments/**/README.md resolves to
   a file of the repository.

"Files of the repository" are what ``git ls-files`` lists: tracked files plus new files git
would add (not ignored), so a new doc is checked before its first commit.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Collection
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# The notes' names are assembled from parts so that this file does not match its own patterns.
NOTE_NAMES = tuple(
    f"{stem}.md" for stem in ("PAPER", "ENVIRONMENT", "TINY_JUDGE", "PEERS", "STYLE", "DESIGN")
)
_NOTE = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, NOTE_NAMES)) + r")")
_OUTSIDE = "shared"
_OUTSIDE_DIR = re.compile(r"\.\./" + _OUTSIDE + r"\b(/data\b)?|\b" + _OUTSIDE + r"/reference\b")

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def repo_files(root: Path) -> list[str]:
    """Tracked files and untracked files that are not ignored, relative to ``root``."""
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout
    return sorted({p for p in out.decode("utf-8").split("\0") if p})


def outside_refs_in_text(path: str, text: str, names_in_repo: Collection[str] = ()) -> list[str]:
    """``path:line: what`` for each line of ``text`` that points outside the repository.

    A note name counts unless a file of that name is in the repository (``names_in_repo``). The
    folder next to the checkout counts, except its ``data/`` read at run time by tests.
    """
    is_test = path.startswith("tests/")
    found = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        hits = [m.group(1) for m in _NOTE.finditer(line) if m.group(1) not in names_in_repo]
        hits += [m.group(0) for m in _OUTSIDE_DIR.finditer(line) if not (is_test and m.group(1))]
        if hits:
            found.append(f"{path}:{lineno}: {', '.join(hits)}: {line.strip()[:120]}")
    return found


def outside_references(root: Path) -> list[str]:
    files = repo_files(root)
    names = {Path(f).name for f in files}
    found = []
    for rel in files:
        path = root / rel
        if not path.is_file():  # deleted but still in the index
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        found += outside_refs_in_text(rel, text, names)
    return found


def link_targets(markdown: str) -> list[str]:
    """Relative link targets of a Markdown text (code blocks and code spans are not links)."""
    text = _INLINE_CODE.sub("", _FENCE.sub("", markdown))
    targets = [m.group(1) for m in _INLINE_LINK.finditer(text)]
    targets += [m.group(1) for m in _REFERENCE_LINK.finditer(text)]
    return [t for t in targets if not _SCHEME.match(t) and not t.startswith("#")]


def broken_links(root: Path, docs: list[str] | None = None) -> list[str]:
    """``doc: target`` for each relative link that is not a file (or folder) of the repository."""
    files = set(repo_files(root))
    folders = {str(p) for f in files for p in Path(f).parents if str(p) != "."}
    if docs is None:
        docs = [
            f
            for f in sorted(files)
            if f == "README.md"
            or re.fullmatch(r"docs/[^/]+\.md", f)
            or re.fullmatch(r"experiments/.+/README\.md", f)
        ]
    root = root.resolve()
    broken = []
    for doc in docs:
        path = root / doc
        if not path.is_file():
            continue
        for target in link_targets(path.read_text(encoding="utf-8")):
            clean = target.split("#", 1)[0].split("?", 1)[0]
            if not clean:
                continue
            base = root if clean.startswith("/") else path.parent
            resolved = (base / clean.lstrip("/")).resolve()
            try:
                rel = resolved.relative_to(root).as_posix()
            except ValueError:
                broken.append(f"{doc}: {target} (outside the repository)")
                continue
            if rel not in files and rel not in folders:
                broken.append(f"{doc}: {target}")
    return broken


def _git_repo() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if subprocess.run(["git", "-C", str(REPO), "rev-parse"], capture_output=True).returncode:
        pytest.skip("not a git checkout")


# -- the repository -------------------------------------------------------------------------


def test_no_file_points_outside_the_repository():
    _git_repo()
    found = outside_references(REPO)
    assert not found, "write the project's own docs (docs/) instead:\n" + "\n".join(found)


def test_relative_markdown_links_resolve():
    _git_repo()
    broken = broken_links(REPO)
    assert not broken, "broken relative links:\n" + "\n".join(broken)


def test_the_user_docs_exist():
    for name in ("protocol.md", "environment.md", "tiny_world.md"):
        assert (REPO / "docs" / name).is_file(), name


# -- the checks themselves can fail ---------------------------------------------------------


def test_outside_references_are_found_in_text():
    note = NOTE_NAMES[0]
    outside = "../" + _OUTSIDE
    assert outside_refs_in_text("README.md", f"see {note} §3")
    assert outside_refs_in_text("conf/x.yaml", f"# {outside}/reference/{NOTE_NAMES[2]}")
    assert outside_refs_in_text("srlm/x.py", f"# {_OUTSIDE}/reference notes")
    # only tests may read the data folder next to the checkout
    assert outside_refs_in_text("conf/data/x.yaml", f"# data.source={outside}/data/x.jsonl")
    assert not outside_refs_in_text("tests/test_x.py", f'DATA = "{outside}/data/x.jsonl"')
    assert not outside_refs_in_text("tests/conftest.py", 'DATA = REPO.parent / "shared" / "data"')
    assert outside_refs_in_text("tests/test_x.py", f"# see {outside}/reference")
    # a name that is a file of the repository is a link inside it; look-alikes do not count
    assert not outside_refs_in_text("README.md", f"see {note}", {note})
    assert not outside_refs_in_text("README.md", f"see MY{note} and docs/protocol.md")
    hits = outside_refs_in_text("a.md", f"one\n{NOTE_NAMES[1]}\nthree")
    assert hits == [f"a.md:2: {NOTE_NAMES[1]}: {NOTE_NAMES[1]}"]


def test_link_targets_skip_urls_anchors_and_code():
    md = (
        '[a](docs/a.md) [b](https://x.org/b.md) [c](#top) ![d](img/d.png "t")\n'
        "`[e](e.md)`\n```\n[f](f.md)\n```\n[g]: <docs/g.md>\n[h](mailto:x@y.z)\n"
    )
    assert link_targets(md) == ["docs/a.md", "img/d.png", "docs/g.md"]


def _tmp_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    (tmp_path / ".gitignore").write_text("runs/\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    return tmp_path


def test_checks_fail_on_a_repository_with_problems(tmp_path):
    note = NOTE_NAMES[3]
    repo = _tmp_repo(
        tmp_path,
        {
            "README.md": "[ok](docs/guide.md) [gone](docs/missing.md) [up](../elsewhere.md)\n"
            "[run](runs/x.json) [dir](docs/) [anchor](docs/guide.md#setup)\n",
            "docs/guide.md": f"see {note} for details\n",
            "experiments/e/README.md": "[back](../../README.md) [bad](../../docs/nope.md)\n",
            "runs/x.json": f"{note}\n",  # ignored by git: neither checked nor a link target
            "notes.bin": f"\0{note}",  # binary: not read
        },
    )
    assert outside_references(repo) == [f"docs/guide.md:1: {note}: see {note} for details"]
    assert broken_links(repo) == [
        "README.md: docs/missing.md",
        "README.md: ../elsewhere.md (outside the repository)",
        "README.md: runs/x.json",
        "experiments/e/README.md: ../../docs/nope.md",
    ]


def test_checks_pass_on_a_clean_repository(tmp_path):
    repo = _tmp_repo(
        tmp_path,
        {
            "README.md": "[guide](docs/guide.md)\n",
            "docs/guide.md": "[home](../README.md) [notes](../" + NOTE_NAMES[0] + ")\n",
            NOTE_NAMES[0]: "the repository's own file of that name\n",
            "tests/test_a.py": 'DATA = "../' + _OUTSIDE + '/data/a.jsonl"\n',
        },
    )
    assert outside_references(repo) == []
    assert broken_links(repo) == []
