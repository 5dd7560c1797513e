#!/usr/bin/env bash
# Step 2 of the GPU check, on a GPU machine without internet access whose python3 holds torch,
# transformers, accelerate and peft (step 1, benchmarks/fetch_gpu_wheels.sh, fetched the rest into
# .whl/ where PyPI is reachable). In at most ~8 minutes:
#   1. install the wheels offline into a folder on PYTHONPATH (--target; the image's own packages
#      stay untouched), then srlm itself without its dependencies; pip check; import check
#   2. the decode benchmark: srlm's HF backend on a random 0.84B Llama in bf16 against the
#      memory-bandwidth bound (benchmarks/gpu_check.py bench)
#   3. pytest -m gpu (tests/test_gpu.py: bf16 SFT and DPO on a random 0.7B Llama, the HF backend on
#      CUDA; the real-vLLM test skips without vllm)
#   4. the smoke loop on CUDA: python3 run.py experiment=smoke
#
#   bash benchmarks/gpu_check.sh [--dry-run] [--out DIR] [--wheels DIR]
#
# Output in DIR (default $OUT, else /tmp/srlm-gpu-check), 8 files, no subfolders: summary.md (also
# printed last), install.log, bench.json, bench.md, pytest.log, smoke.log, smoke_summary.json,
# smoke_stages.json. The smoke run's store goes to a temp folder (model files stay out of DIR).
# --dry-run prints the plan and checks on a CPU machine what it can: the scripts parse, the wheel
# set is complete for the image's Python and fits the carry limit with the repository, the
# benchmark's arithmetic and code path (tiny model), the gpu tests collect, the smoke config
# composes.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
out="${OUT:-/tmp/srlm-gpu-check}"
wheels=.whl
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --out) out="$2"; shift ;;
    --wheels) wheels="$2"; shift ;;
    *) echo "usage: $0 [--dry-run] [--out DIR] [--wheels DIR]" >&2; exit 2 ;;
  esac
  shift
done
budget=${GPU_CHECK_BUDGET_S:-470}   # the whole check, seconds
site=/tmp/srlm-gpu-site
runs=/tmp/srlm-gpu-runs
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export WANDB_MODE=disabled PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

plan() {
  cat <<EOF
plan (budget ${budget} s; each step capped at the lesser of its cap and what is left):
  install [cap  90 s]  python3 -m pip install --no-index --no-deps --no-compile --target $site $wheels/*.whl
                       python3 -m pip install --no-index --no-deps --no-build-isolation --target $site .
                       PYTHONPATH=\$PWD:$site; pip check (lines naming a carried wheel); imports
  bench   [cap 150 s]  python3 benchmarks/gpu_check.py bench --out $out
  tests   [cap 240 s]  python3 -m pytest -m gpu -v -rs --continue-on-collection-errors tests/
  smoke   [cap 240 s]  python3 run.py experiment=smoke paths.root=$runs
  output  $out/: summary.md install.log bench.json bench.md pytest.log smoke.log smoke_summary.json smoke_stages.json
EOF
}

if [ "$dry" = 1 ]; then
  py=python3
  [ -x .venv/bin/python ] && py=.venv/bin/python
  status=0
  plan
  echo
  echo "== scripts parse"
  for f in benchmarks/gpu_check.sh benchmarks/fetch_gpu_wheels.sh; do
    bash -n "$f" && echo "ok  $f" || status=1
  done
  for f in benchmarks/gpu_check.py tests/test_gpu.py; do
    "$py" -m py_compile "$f" && echo "ok  $f" || status=1
  done
  echo
  "$py" benchmarks/gpu_check.py dry-run --wheels "$wheels" || status=1
  echo
  echo "== gpu tests collected (they skip without CUDA)"
  "$py" -m pytest -m gpu --collect-only -q -p no:cacheprovider tests/ 2>&1 | grep -v "^$" | tail -15
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
  echo
  echo "== smoke config composes"
  if "$py" run.py experiment=smoke "paths.root=$runs" dry_run=true >/tmp/srlm-smoke-dry.log 2>&1; then
    echo "ok  run.py experiment=smoke paths.root=$runs ($(wc -l </tmp/srlm-smoke-dry.log) lines of plan)"
  else
    status=1
    echo "FAILED: run.py experiment=smoke dry_run=true"
    tail -5 /tmp/srlm-smoke-dry.log
  fi
  echo
  echo "gpu_check.sh --dry-run: $([ $status = 0 ] && echo ok || echo FAILED)"
  exit $status
fi

mkdir -p "$out"
start=$SECONDS
rows=()
cap() {  # seconds the next step may take: its own cap, or what is left of the budget
  local left=$((budget - (SECONDS - start)))
  [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"
}
step() {  # step NAME CAP LOG COMMAND...: run with a timeout, record status and seconds
  local name=$1 limit log=$3 t0=$SECONDS rc
  limit=$(cap "$2")
  shift 3
  echo "== $name (cap ${limit} s)"
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1
  rc=$?
  local s=$((SECONDS - t0)) verdict=ok
  [ $rc = 124 ] || [ $rc = 137 ] && verdict="timed out"
  [ $rc != 0 ] && [ "$verdict" = ok ] && verdict="failed (rc $rc)"
  rows+=("| $name | $verdict | $s |")
  echo "   $verdict in $s s"
  tail -3 "$log" | sed 's/^/   /'
}

install() {
  echo "== GPU and Python"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv || true
  python3 -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
  echo "== wheels ($(ls "$wheels"/*.whl | wc -l)) -> $site"
  rm -rf "$site"
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
    "$wheels"/*.whl || return 1
  echo "== srlm itself, without dependencies"
  python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir \
    --target "$site" . || echo "(srlm not installed: it runs from the repository, on PYTHONPATH)"
  echo "== pip check, lines naming srlm or a carried wheel"
  PYTHONPATH="$site" python3 -m pip check >/tmp/srlm-pip-check.txt 2>&1
  names=$(cd "$wheels" && ls *.whl | sed 's/-.*//' | tr '_' '-' | tr 'A-Z' 'a-z' | paste -sd'|')
  grep -iE "^($names|srlm) " /tmp/srlm-pip-check.txt | grep -v "^srlm " || echo "(none)"
  echo "srlm's own pins the image overrides: $(grep -ic '^srlm ' /tmp/srlm-pip-check.txt) line(s)"
  echo "== import check"
  PYTHONPATH="$PWD:$site" python3 - <<'PY'
import importlib, importlib.metadata as md
for mod, dist in [("trl", "trl"), ("datasets", "datasets"), ("hydra", "hydra-core"),
                  ("omegaconf", "omegaconf"), ("rouge_score", "rouge-score"), ("wandb", "wandb"),
                  ("openai", "openai"), ("transformers", "transformers"), ("accelerate", "accelerate"),
                  ("peft", "peft"), ("torch", "torch"), ("srlm.training", None), ("srlm.pipeline", None)]:
    try:
        importlib.import_module(mod)
        print(f"ok      {mod} {md.version(dist) if dist else ''}")
    except Exception as e:
        print(f"FAILED  {mod}: {type(e).__name__}: {e}")
PY
}

export -f install
export site wheels
step install 90 "$out/install.log" bash -c install
# the repository first: srlm runs from it; the installed copy in $site carries its metadata
export PYTHONPATH="$PWD:$site${PYTHONPATH:+:$PYTHONPATH}"
grep -q FAILED "$out/install.log" && rows+=("| import check | FAILED (see install.log) | |")

step bench 150 "$out/bench.log.tmp" python3 benchmarks/gpu_check.py bench --out "$out"
if [ -f "$out/bench.log.tmp" ]; then
  # the benchmark's console output goes into bench.md when it failed (8 files at most come back)
  [ -f "$out/bench.md" ] || mv "$out/bench.log.tmp" "$out/bench.md"
  rm -f "$out/bench.log.tmp"
fi

step tests 240 "$out/pytest.log" python3 -m pytest -m gpu -v -rs -p no:cacheprovider \
  --continue-on-collection-errors tests/

rm -rf "$runs"
step smoke 240 "$out/smoke.log" python3 run.py experiment=smoke "paths.root=$runs"
summary=$(find "$runs" -name summary.json 2>/dev/null | head -1)
[ -n "$summary" ] && cp "$summary" "$out/smoke_summary.json" && \
  cp "$(dirname "$summary")/stages.json" "$out/smoke_stages.json" 2>/dev/null

{
  echo "# GPU check ($(date -u +%FT%TZ), $((SECONDS - start)) s of ${budget})"
  echo
  python3 -c "import torch; print(f'{torch.cuda.get_device_name()}, torch {torch.__version__}')" 2>/dev/null
  echo
  echo "| step | result | seconds |"
  echo "|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "pytest: $(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$out/pytest.log" | tail -1)"
  echo
  [ -f "$out/bench.md" ] && cat "$out/bench.md"
  echo
  [ -f "$out/smoke_summary.json" ] && echo "smoke summary.json: $(head -c 600 "$out/smoke_summary.json")"
} >"$out/summary.md"
echo
cat "$out/summary.md"
