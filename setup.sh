#!/usr/bin/env bash
# Create .venv and install srlm with the pinned CPU stack (constraints.txt is the lock file:
# torch stays the local 2.13.0 CPU build; a resolution that wants another torch fails fast).
# Extras: SRLM_EXTRAS="dev,deepspeed" (default). GPU machines: see README "GPU and vLLM".
set -euo pipefail
cd "$(dirname "$0")"
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
