#!/usr/bin/env python3
"""The prepared GPU check: wheels for an offline GPU image, and the HF backend's decode benchmark.

Used by ``benchmarks/fetch_gpu_wheels.sh`` (on a machine that reaches PyPI) and
``benchmarks/gpu_check.sh`` (on the GPU machine, offline). Commands:

  requirements        srlm's pinned dependencies that the GPU image lacks (input for ``pip -r``)
  constraints         pins for resolving them: constraints.txt without the image's packages,
                      plus the versions the image is known to hold
  plan REPORT         from ``pip install --dry-run --report REPORT``: the wheels to fetch
                      (name==version), the closure of ``requirements`` cut at the image's packages
  check-wheels DIR    the wheels in DIR are complete, one per project, installable on the image's
                      Python (cp312, manylinux x86_64), and fit the carry limit with the repo
  bench [--out DIR]   decode tokens/s of srlm's HF backend (``HFGenerator``) on a random 0.84B
                      Llama in bf16 against the memory-bandwidth bound; ``--dry-run`` checks the
                      arithmetic and runs the same code on a tiny model on the CPU

The wheel commands import only the standard library and ``packaging`` (pip's vendored copy when
it is not installed), so they run on any Python >= 3.10; ``bench`` imports torch and srlm.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import math
import os
import re
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.tags import compatible_tags, cpython_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError:  # a bare Python: pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.tags import compatible_tags, cpython_tags
    from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[1]

# --- the GPU machine's image ------------------------------------------------------------------
# Python 3.12.3 (Ubuntu 24.04, glibc 2.39), x86_64, no network. Its python3 holds PyTorch and
# the packages below (read off the machine, Nov 2026); the versions are those known for sure.
TARGET_PYTHON = (3, 12)
TARGET_PYTHON_FULL = "3.12.3"
TARGET_GLIBC = (2, 39)
CARRY_LIMIT = 64 * 1024**2  # what travels to the GPU machine: working tree + carried wheels
IMAGE_VERSIONS = {
    "accelerate": "1.15.0",
    "huggingface-hub": "1.33.0",
    "numpy": "2.5.2",
    "safetensors": "0.8.0",
    "tokenizers": "0.23.2",
    "torch": "2.11.0",
    "transformers": "5.17.0",
    "triton": "3.6.0",
}
_IMAGE_LIST = """
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch
build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage
cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops
equinox etils execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio
h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig
interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown
markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict
multipledispatch mypy-extensions nanobind narwhals networkx ninja numba numba-cuda numpy numpyro
nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft
nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py
nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime
onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint
packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache
protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions
pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six
sortedcontainers statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore
threadpoolctl tifffile tiktoken timm tokenizers toolz torch torchaudio torchdiffeq torch-geometric
torchmetrics torchvision tqdm transformers treescope triton typer typing-extensions typing-inspect
urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp
"""
IMAGE_PACKAGES = frozenset(canonicalize_name(n) for n in _IMAGE_LIST.split())


def target_platforms() -> list[str]:
    """pip's --platform values for the image, most specific first (pip matches N exactly)."""
    major, minor = TARGET_GLIBC
    plats = [f"manylinux_{major}_{n}_x86_64" for n in range(minor, 4, -1)]
    return plats + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]


def target_env() -> dict[str, str]:
    """Marker values of the image's Python."""
    return {
        "implementation_name": "cpython",
        "implementation_version": TARGET_PYTHON_FULL,
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": TARGET_PYTHON_FULL,
        "python_version": "{}.{}".format(*TARGET_PYTHON),
        "sys_platform": "linux",
        "extra": "",
    }


def target_tags() -> set:
    plats = target_platforms()
    abi = "cp{}{}".format(*TARGET_PYTHON)
    return set(cpython_tags(TARGET_PYTHON, [abi], plats)) | set(
        compatible_tags(TARGET_PYTHON, abi, plats)
    )


# --- srlm's requirements ----------------------------------------------------------------------


def srlm_requirements() -> list[Requirement]:
    """``[project].dependencies`` of pyproject.toml."""
    text = (REPO / "pyproject.toml").read_text()
    try:
        import tomllib

        deps = tomllib.loads(text)["project"]["dependencies"]
    except ImportError:  # Python 3.10
        block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.S | re.M).group(1)
        deps = re.findall(r'"([^"]+)"', block)
    return [Requirement(d) for d in deps]


def missing_requirements() -> list[Requirement]:
    return [r for r in srlm_requirements() if canonicalize_name(r.name) not in IMAGE_PACKAGES]


def constraint_lines() -> list[str]:
    """constraints.txt without the image's packages (the resolver must not pin what the image
    decides), plus the image's known versions (so the resolution is checked against them)."""
    out = [f"{n}=={v}" for n, v in sorted(IMAGE_VERSIONS.items())]
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name = canonicalize_name(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0])
        if name not in IMAGE_PACKAGES:
            out.append(line)
    return out


# --- a set of distributions and the walk over their requirements -------------------------------


@dataclass
class Dist:
    name: str
    version: str
    requires: list[str]
    requires_python: str | None = None
    path: Path | None = None


@dataclass
class Walk:
    needed: dict[str, set] = field(default_factory=dict)  # project -> extras asked for
    problems: list[str] = field(default_factory=list)
    unverified: dict[str, set] = field(default_factory=dict)  # image project -> specifiers asked
    overridden: list[str] = field(default_factory=list)


def walk(roots: list[Requirement], universe: dict[str, Dist], parent: str = "srlm") -> Walk:
    """The closure of ``roots`` in ``universe`` under the image's markers, cut at the image's
    packages: those are checked against the versions the image is known to hold."""
    env, w = target_env(), Walk()
    queue = [(r, parent) for r in roots]
    while queue:
        req, who = queue.pop(0)
        name = canonicalize_name(req.name)
        if name in IMAGE_PACKAGES:
            have = IMAGE_VERSIONS.get(name)
            if who == parent:  # srlm's own pin: srlm goes in --no-deps, the image's copy runs
                if have is None or not req.specifier.contains(have, prereleases=True):
                    w.overridden.append(f"{req} (image: {have or 'version not known here'})")
            elif have is None:
                w.unverified.setdefault(name, set()).add(str(req.specifier) or "any")
            elif not req.specifier.contains(have, prereleases=True):
                w.problems.append(f"{who} needs {req}, the image has {name} {have}")
            continue
        dist = universe.get(name)
        if dist is None:
            w.problems.append(f"{who} needs {req}: no wheel of {name}")
            continue
        if not req.specifier.contains(dist.version, prereleases=True):
            w.problems.append(f"{who} needs {req}, the wheel is {name} {dist.version}")
        rp = dist.requires_python
        if rp and not SpecifierSet(rp).contains(TARGET_PYTHON_FULL, prereleases=True):
            w.problems.append(f"{name} {dist.version} requires Python {rp}")
        extras = set(req.extras)
        known = w.needed.get(name)
        if known is not None and extras <= known:
            continue
        w.needed[name] = (known or set()) | extras
        for spec in dist.requires:
            dep = Requirement(spec)
            if dep.marker is None or any(
                dep.marker.evaluate({**env, "extra": e}) for e in w.needed[name] | {""}
            ):
                queue.append((dep, f"{name} {dist.version}"))
    return w


def universe_from_report(report: Path) -> dict[str, Dist]:
    data = json.loads(report.read_text())
    out = {}
    for item in data["install"]:
        m = item["metadata"]
        out[canonicalize_name(m["name"])] = Dist(
            m["name"], m["version"], list(m.get("requires_dist") or []), m.get("requires_python")
        )
    return out


def wheel_metadata(path: Path) -> Dist:
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        msg = email.parser.Parser().parsestr(z.read(meta).decode("utf-8"))
    return Dist(
        msg["Name"],
        msg["Version"],
        msg.get_all("Requires-Dist") or [],
        msg.get("Requires-Python"),
        path,
    )


def repo_tree_bytes() -> int:
    """Bytes of what travels besides the carried paths: tracked and untracked-not-ignored files."""
    try:
        files = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        return 0
    paths = (REPO / os.fsdecode(f) for f in files if f)
    return sum(p.stat().st_size for p in paths if p.is_file())


def check_wheels(directory: Path, quiet: bool = False) -> list[str]:
    """Problems with the wheel set in ``directory`` (empty: complete for the image)."""
    say = (lambda *a: None) if quiet else print
    wheels = sorted(directory.glob("*.whl"))
    problems, universe, tags = [], {}, target_tags()
    for path in wheels:
        name, version, _, wtags = parse_wheel_filename(path.name)
        if not wtags & tags:
            problems.append(f"{path.name}: no tag for cp312 manylinux x86_64 (glibc <= 2.39)")
        key = canonicalize_name(name)
        if key in universe:
            problems.append(f"two wheels of {key}: {universe[key].path.name}, {path.name}")
        universe[key] = wheel_metadata(path)
    w = walk(srlm_requirements(), universe)
    problems += w.problems
    extra = sorted(set(universe) - set(w.needed))
    shadow = sorted(set(universe) & IMAGE_PACKAGES)
    size = sum(p.stat().st_size for p in wheels)
    tree = repo_tree_bytes()
    mib = 1024**2
    say(f"wheels in {directory}: {len(wheels)}, {size / mib:.1f} MiB")
    for p in wheels:
        say(f"  {p.stat().st_size / mib:6.2f} MiB  {p.name}")
    say(
        f"srlm's pins the image overrides (srlm goes in --no-deps): {'; '.join(w.overridden)}"
        if w.overridden
        else "srlm's pins: none overridden by the image"
    )
    if w.unverified:
        say(
            "on the image, version not known here (pip check on the GPU machine): "
            + ", ".join(f"{n} {' '.join(sorted(s))}" for n, s in sorted(w.unverified.items()))
        )
    if extra:
        say(f"wheels nothing needs: {', '.join(extra)}")
    if shadow:
        say(f"wheels shadowing an image package: {', '.join(shadow)}")
    total = size + tree
    say(
        f"carry: wheels {size / mib:.1f} MiB + working tree {tree / mib:.1f} MiB = "
        f"{total / mib:.1f} MiB of {CARRY_LIMIT / mib:.0f} MiB"
    )
    if total > CARRY_LIMIT:
        problems.append(f"wheels + working tree {total / mib:.1f} MiB > {CARRY_LIMIT / mib:.0f}")
    if not wheels:
        problems.append(f"no wheels in {directory}: run benchmarks/fetch_gpu_wheels.sh")
    return problems


# --- the decode benchmark ---------------------------------------------------------------------

H200_BANDWIDTH = 4.8e12  # bytes/s, the datasheet's HBM3e figure
BENCH_CONFIG = dict(  # a TinyLlama-shaped 0.84B Llama, random weights, no download
    hidden_size=2048,
    intermediate_size=5632,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=4,
    vocab_size=32000,
    max_position_embeddings=4096,
    tie_word_embeddings=False,
)
TINY_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=512,
    max_position_embeddings=512,
    tie_word_embeddings=False,
)


def llama_params(c: dict) -> int:
    """Parameters of a Llama with config ``c`` (no biases)."""
    h, i, v, layers = (
        c["hidden_size"],
        c["intermediate_size"],
        c["vocab_size"],
        c["num_hidden_layers"],
    )
    hd = h // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd
    per_layer = h * h * 2 + 2 * h * kv + 3 * h * i + 2 * h  # q, o; k, v; MLP; two RMSNorms
    head = 0 if c["tie_word_embeddings"] else v * h
    return v * h + layers * per_layer + h + head


def step_bytes(c: dict, batch: int, context: float, elem: int = 2) -> float:
    """Bytes one decode step must read: every weight once except the input embedding (one row
    per token), plus each row's KV cache at ``context`` tokens."""
    weights = elem * (llama_params(c) - c["vocab_size"] * c["hidden_size"])
    hd = c["hidden_size"] // c["num_attention_heads"]
    kv_per_token = 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * hd * elem
    return weights + kv_per_token * batch * context


def bound_tokens_per_s(c: dict, batch: int, context: float, bandwidth: float) -> float:
    return batch * bandwidth / step_bytes(c, batch, context)


def check_arithmetic() -> list[str]:
    """The bound's arithmetic against hand-computed figures and a meta-device model."""
    problems = []
    c = BENCH_CONFIG
    # hand count: embeddings 2 x 32000 x 2048; per layer q,o 2 x 2048^2, k,v 2 x 2048 x 256,
    # MLP 3 x 2048 x 5632, norms 2 x 2048; final norm 2048
    hand = 2 * 32000 * 2048 + 16 * (2 * 2048**2 + 2 * 2048 * 256 + 3 * 2048 * 5632 + 2 * 2048)
    hand += 2048
    if llama_params(c) != hand:
        problems.append(f"llama_params {llama_params(c)} != hand count {hand}")
    try:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        for cfg in (BENCH_CONFIG, TINY_CONFIG):
            with torch.device("meta"):
                m = LlamaForCausalLM(LlamaConfig(**cfg))
            n = sum(p.numel() for p in m.parameters())
            if n != llama_params(cfg):
                problems.append(
                    f"meta model has {n} parameters, llama_params says {llama_params(cfg)}"
                )
    except ImportError as e:
        print(f"(meta-model count skipped: {e})")
    b1 = bound_tokens_per_s(c, 1, 192, H200_BANDWIDTH)
    # 0.84B params, 1.536 GB read per step at batch 1 (+6 MB of KV): 4.8e12 / 1.54e9 ~ 3,100 tok/s
    if not 3000 < b1 < 3200:
        problems.append(f"batch-1 bound {b1:.0f} tok/s, expected ~3,100")
    return problems


def _tokenizer(vocab: int):
    """A word-level tokenizer over the model's vocabulary: ``w<i>`` is id i; <eos> lies outside
    the model's vocabulary, so the random model never ends a row (every row decodes all steps)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, **{f"w{i}": i for i in range(1, vocab)}, "<eos>": vocab}
    tok = Tokenizer(models.WordLevel(words, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", padding_side="left"
    )


def copy_bandwidth(dev, nbytes: int, repeats: int = 10) -> float:
    """Bytes/s of a device-to-device copy (each byte read once and written once)."""
    import torch

    x = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device=dev)
    y = torch.empty_like(x)
    y.copy_(x)
    _sync(dev)
    t = time.perf_counter()
    for _ in range(repeats):
        y.copy_(x)
    _sync(dev)
    return 2 * nbytes * repeats / (time.perf_counter() - t)


def _sync(dev) -> None:
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize()


def bench(out: Path | None, dry_run: bool, batches=(1, 16, 64), prompt_len=128, new=128) -> dict:
    """Greedy decode through ``HFGenerator.generate``: (time for ``new`` tokens) minus (time for
    1 token, i.e. the prefill and the first sample) over ``new - 1`` decode steps."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from srlm.generation.base import Sampling
    from srlm.generation.hf import HFGenerator

    cuda = torch.cuda.is_available() and not dry_run
    dev = torch.device("cuda" if cuda else "cpu")
    cfg = BENCH_CONFIG if cuda else TINY_CONFIG
    if not cuda:
        batches, prompt_len, new = (1, 4), 16, 8
    torch.manual_seed(0)
    dtype = torch.bfloat16
    with torch.device(dev):
        model = LlamaForCausalLM(LlamaConfig(**cfg)).to(dtype).eval()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == llama_params(cfg), (n_params, llama_params(cfg))
    tok = _tokenizer(cfg["vocab_size"])
    if cuda:
        bandwidth = copy_bandwidth(dev, 2 * 1024**3)
        device_name = torch.cuda.get_device_name()
    else:
        bandwidth = copy_bandwidth(dev, 64 * 1024**2, repeats=3)
        device_name = "cpu"
    gen_rng = torch.Generator().manual_seed(1)

    def prompts(b: int) -> list[str]:
        ids = torch.randint(1, cfg["vocab_size"], (b, prompt_len), generator=gen_rng)
        return [" ".join(f"w{i}" for i in row.tolist()) for row in ids]

    def timed(gen, ps, max_new: int, repeats: int = 3) -> float:
        best = math.inf
        for _ in range(repeats):
            _sync(dev)
            t = time.perf_counter()
            out = gen.generate(ps, Sampling(n=1, temperature=0.0, max_new_tokens=max_new))
            _sync(dev)
            best = min(best, time.perf_counter() - t)
        lengths = {len(tok(o[0], add_special_tokens=False)["input_ids"]) for o in out}
        assert lengths == {max_new}, f"rows ended early: {lengths}"
        return best

    rows = []
    for b in batches:
        gen = HFGenerator(model, tok, batch_size=b, desc=f"bench b={b}", prefix_reuse=False)
        ps = prompts(b)
        timed(gen, ps, 4, repeats=1)  # warm-up: kernels, allocator, cache shapes
        t1, tn = timed(gen, ps, 1), timed(gen, ps, new)
        steps = new - 1
        decode_s = max(tn - t1, 1e-9)
        context = prompt_len + new / 2  # mid-decode
        measured = b * steps / decode_s
        bound = bound_tokens_per_s(cfg, b, context, bandwidth)
        rows.append(
            {
                "batch": b,
                "prefill_s": round(t1, 4),
                "ms_per_step": round(1000 * decode_s / steps, 3),
                "decode_tok_s": round(measured, 1),
                "bound_ms_per_step": round(1000 * step_bytes(cfg, b, context) / bandwidth, 4),
                "bound_tok_s": round(bound, 1),
                "of_bound": round(measured / bound, 4),
                "bound_tok_s_at_4.8TB/s": round(
                    bound_tokens_per_s(cfg, b, context, H200_BANDWIDTH), 1
                ),
            }
        )
    result = {
        "device": device_name,
        "torch": torch.__version__,
        "dtype": "bfloat16",
        "params": n_params,
        "weight_bytes_per_step": step_bytes(cfg, 1, 0),
        "copy_bandwidth_Bps": bandwidth,
        "prompt_len": prompt_len,
        "new_tokens": new,
        "rows": rows,
    }
    md = bench_markdown(result)
    print(md)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
        (out / "bench.md").write_text(md + "\n")
    return result


def bench_markdown(r: dict) -> str:
    head = (
        f"HF backend (srlm HFGenerator, greedy, eager transformers) decode on {r['device']}, "
        f"torch {r['torch']}, {r['dtype']}: {r['params'] / 1e9:.3g}B parameters, "
        f"{r['weight_bytes_per_step'] / 1e9:.3g} GB of weights read per step, measured copy "
        f"bandwidth {r['copy_bandwidth_Bps'] / 1e12:.3g} TB/s (H200 datasheet 4.8), prompt "
        f"{r['prompt_len']} tokens, {r['new_tokens']} new tokens\n"
    )
    cols = [
        "batch",
        "prefill_s",
        "ms_per_step",
        "decode_tok_s",
        "bound_ms_per_step",
        "bound_tok_s",
        "of_bound",
        "bound_tok_s_at_4.8TB/s",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(f"{row[c]:,}" for c in cols) + " |" for row in r["rows"]]
    return head + "\n" + "\n".join(lines)


# --- the CPU-side checks of ``gpu_check.sh --dry-run`` ---------------------------------------


def dry_run(wheels: Path) -> int:
    problems = []
    print("== wheel set for the GPU image (Python {}.{}, manylinux x86_64)".format(*TARGET_PYTHON))
    problems += check_wheels(wheels)
    print("\n== benchmark arithmetic")
    arith = check_arithmetic()
    problems += arith
    c = BENCH_CONFIG
    print(
        f"bench model {llama_params(c) / 1e9:.3f}B parameters, "
        f"{step_bytes(c, 1, 0) / 1e9:.3f} GB of weights per decode step (bf16); bound at "
        f"{H200_BANDWIDTH / 1e12:.1f} TB/s, prompt 128 + 64 mid-decode: "
        + ", ".join(
            f"batch {b} {bound_tokens_per_s(c, b, 192, H200_BANDWIDTH):,.0f} tok/s"
            for b in (1, 16, 64)
        )
        + (" [ok]" if not arith else " [WRONG]")
    )
    print("\n== the benchmark's code path on the CPU (tiny random Llama, bf16)")
    try:
        bench(None, dry_run=True)
    except Exception as e:  # noqa: BLE001 - report, do not hide
        problems.append(f"bench on CPU failed: {type(e).__name__}: {e}")
    print()
    for p in problems:
        print(f"PROBLEM: {p}")
    print("dry run: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("requirements")
    sub.add_parser("constraints")
    sub.add_parser("platforms")
    pl = sub.add_parser("plan")
    pl.add_argument("report", type=Path)
    cw = sub.add_parser("check-wheels")
    cw.add_argument("dir", type=Path)
    b = sub.add_parser("bench")
    b.add_argument("--out", type=Path)
    b.add_argument("--dry-run", action="store_true")
    d = sub.add_parser("dry-run")
    d.add_argument("--wheels", type=Path, default=REPO / ".whl")
    a = p.parse_args()
    # the HF backend's progress bars; tqdm reads this when it is first imported
    os.environ.setdefault("TQDM_DISABLE", "1")
    if a.cmd == "requirements":
        print("\n".join(str(r) for r in missing_requirements()))
    elif a.cmd == "constraints":
        print("\n".join(constraint_lines()))
    elif a.cmd == "platforms":
        print(" ".join(target_platforms()))
    elif a.cmd == "plan":
        universe = universe_from_report(a.report)
        w = walk(missing_requirements(), universe)
        for problem in w.problems:
            print(f"PROBLEM: {problem}", file=sys.stderr)
        for name in sorted(w.needed):
            print(f"{name}=={universe[name].version}")
        return 1 if w.problems else 0
    elif a.cmd == "check-wheels":
        problems = check_wheels(a.dir)
        for problem in problems:
            print(f"PROBLEM: {problem}")
        print("wheel set: " + ("complete" if not problems else f"{len(problems)} problem(s)"))
        return 1 if problems else 0
    elif a.cmd == "bench":
        bench(a.out, a.dry_run)
    elif a.cmd == "dry-run":
        return dry_run(a.wheels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
