"""Test environment: offline, no wandb uploads, one tiny-model store shared by the session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

for key, value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
}.items():
    os.environ.setdefault(key, value)


@pytest.fixture(scope="session")
def session_runs(tmp_path_factory) -> Path:
    """A runs root whose store is shared by every integration test (M0 is built once)."""
    return tmp_path_factory.mktemp("runs")


def run_cli(*args: str, cwd: Path = REPO, timeout: int = 900, env: dict | None = None):
    import subprocess

    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def tiny_m0(tmp_path_factory) -> Path:
    """A barely pretrained tiny M0 (seconds to build): for tests of mechanics, not of quality."""
    from srlm.models.tiny import build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("m0") / "model",
        corpus_documents=400,
        pretrain_steps=20,
        vocab_size=512,
    )
