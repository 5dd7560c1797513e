#!/usr/bin/env bash
# Step 1 of the GPU check, on a machine that reaches PyPI: download into .whl/ (ignored) the wheels
# srlm needs on the offline GPU image and that the image lacks (trl, datasets, hydra-core,
# omegaconf, the Hydra launchers, wandb, rouge-score, openai and their missing dependencies),
# at the versions of pyproject.toml / constraints.txt, for the image's Python (cp312, manylinux
# x86_64). torch, transformers, accelerate, peft and the rest come from the image.
#
#   bash benchmarks/fetch_gpu_wheels.sh [DEST]      # DEST defaults to .whl
#
# DEST keeps only this set: other wheels there stop the script (REPLACE=1 deletes them).
#
# Resolution reads metadata only (pip >= 25.3 with --use-feature=fast-deps: HTTP range requests;
# pip 23.2-25.2 download every wheel even in --dry-run, torch included), so pip 26.3 is put in a
# temporary folder. rouge-score and antlr4-python3-runtime (for omegaconf) are sdist-only: they are
# built here into pure-Python wheels. Then step 2 on the GPU machine: benchmarks/gpu_check.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${1:-.whl}"
py="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
quiet() { grep -v "WARNING: Location\|Obtaining dependency information\|^Collecting\|^  Preparing\|^Looking in" >&2 || true; }

echo "== a recent pip (metadata-only resolution)"
"$py" -m pip install -q --disable-pip-version-check --target "$work/pip" "pip==26.3" 2> >(quiet)
pip() { PYTHONPATH="$work/pip" "$py" -m pip --disable-pip-version-check "$@"; }
pip --version

echo "== pure-Python wheels of the sdist-only packages"
pip wheel -q --no-deps -w "$work/built" rouge-score==0.1.2 antlr4-python3-runtime==4.9.3 2> >(quiet)
ls "$work/built"

target=(--only-binary=:all: --implementation cp --python-version 3.12 --abi cp312)
for p in $("$py" benchmarks/gpu_check.py platforms); do target+=(--platform "$p"); done

echo "== resolve srlm's missing requirements for the image (metadata only)"
"$py" benchmarks/gpu_check.py requirements >"$work/req.txt"
"$py" benchmarks/gpu_check.py constraints >"$work/constraints.txt"
cat "$work/req.txt"
start=$SECONDS
pip install --dry-run --ignore-installed --use-feature=fast-deps "${target[@]}" \
  --find-links "$work/built" -c "$work/constraints.txt" -r "$work/req.txt" \
  --report "$work/report.json" -q 2> >(quiet)
echo "resolved in $((SECONDS - start)) s"

echo "== the closure, cut at the image's packages"
"$py" benchmarks/gpu_check.py plan "$work/report.json" >"$work/need.txt"
tr '\n' ' ' <"$work/need.txt"
echo

echo "== download"
pip download -q --no-deps "${target[@]}" --find-links "$work/built" -d "$work/wheels" \
  -r "$work/need.txt" 2> >(quiet)

echo "== check"
"$py" benchmarks/gpu_check.py check-wheels "$work/wheels"

# Two versions of one project stop the offline install: DEST takes this set and nothing else.
mkdir -p "$dest"
others=$(cd "$dest" && for f in *.whl; do [ -e "$f" ] && [ ! -e "$work/wheels/$f" ] && echo "$f"; done || true)
if [ -n "$others" ] && [ "${REPLACE:-0}" != 1 ]; then
  echo "$dest holds other wheels; move them away, or rerun with REPLACE=1 to delete them:" >&2
  echo "$others" >&2
  exit 1
fi
for f in $others; do rm -f "$dest/$f"; done
cp "$work/wheels/"*.whl "$dest/"
echo "wheels in $dest: $(ls "$dest"/*.whl | wc -l), $(du -ch "$dest"/*.whl | tail -1 | cut -f1)"
