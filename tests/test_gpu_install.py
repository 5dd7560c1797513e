"""The README's GPU install resolves: ``pip install -c constraints-gpu.txt -e '.[vllm]'``.

The offline tests compare constraints-gpu.txt with the CPU lock and pyproject.toml. The
``resolve`` test runs pip's resolver in dry-run/report mode for a Linux x86_64 CUDA target and
reads metadata only (pip >= 25.3 with ``--use-feature=fast-deps``: HTTP range requests on the
wheels, since the index serves no PEP 658 metadata; older pips download every wheel even in
--dry-run, ~5 GB with CUDA torch and vLLM). It needs PyPI, so it runs only when selected:

    .venv/bin/python -m pytest -m resolve tests/test_gpu_install.py

``SRLM_RESOLVE_PYTHONS="3.11 3.12"`` resolves for several Python versions (default 3.11).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
CPU_LOCK = REPO / "constraints.txt"
GPU_LOCK = REPO / "constraints-gpu.txt"
# what constraints-gpu.txt changes in the CPU lock (its header says why)
GPU_CHANGES = {"torch": "===2.13.0", "numpy": "==2.3.5"}
GLIBC = (2, 35)  # the target: manylinux wheels up to glibc 2.35 (Ubuntu 22.04 and newer)
MIN_PIP = (25, 3)
PIP = "pip==26.3"
SDIST_ONLY = ["rouge-score==0.1.2", "antlr4-python3-runtime==4.9.3"]  # pure Python


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            out[canonicalize_name(req.name)] = str(req.specifier)
    return out


def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_gpu_lock_is_the_cpu_lock_with_cuda_torch():
    cpu, gpu = _pins(CPU_LOCK), _pins(GPU_LOCK)
    assert cpu["torch"] == "==2.13.0+cpu"
    assert not [n for n, spec in gpu.items() if "+" in spec], "a local version in the GPU lock"
    changed = {n: gpu.get(n) for n in cpu if gpu.get(n) != cpu[n]}
    assert changed == GPU_CHANGES
    assert set(gpu) - set(cpu) == {"vllm"}


def test_gpu_lock_pins_the_vllm_extra_and_meets_srlm_requirements():
    """Every pin of the GPU lock satisfies pyproject.toml's requirements (a failure here is a
    ResolutionImpossible for GPU users)."""
    project = _pyproject()["project"]
    gpu = _pins(GPU_LOCK)
    (vllm,) = [Requirement(r) for r in project["optional-dependencies"]["vllm"]]
    assert str(vllm.specifier) == gpu["vllm"]
    for spec in project["dependencies"]:
        req = Requirement(spec)
        pin = gpu.get(canonicalize_name(req.name))
        assert pin, f"{req.name} is not in constraints-gpu.txt"
        version = pin.lstrip("=")
        assert req.specifier.contains(version), (
            f"pyproject.toml needs {req}, constraints-gpu.txt pins {req.name}{pin}"
        )


# --- the resolver ------------------------------------------------------------------------------


def _pip_version(python: list[str], env: dict) -> tuple[int, ...]:
    out = subprocess.run(
        [*python, "-m", "pip", "--version"], capture_output=True, text=True, env=env
    )
    return tuple(int(x) for x in re.match(r"pip (\d+)\.(\d+)", out.stdout).groups())


@pytest.fixture(scope="module")
def pip_env(tmp_path_factory):
    """A pip that resolves from metadata alone (a newer one in a temp folder if needed), and
    pure-Python wheels of the sdist-only dependencies (``--only-binary=:all:`` for a target)."""
    tmp = tmp_path_factory.mktemp("pip")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    python = [sys.executable]
    if _pip_version(python, env) < MIN_PIP:
        subprocess.run(
            [*python, "-m", "pip", "install", "-q", "--target", str(tmp / "pip"), PIP],
            check=True,
            env=env,
        )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp / "pip"), env.get("PYTHONPATH")]))
        assert _pip_version(python, env) >= MIN_PIP
    subprocess.run(
        [*python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "built"), *SDIST_ONLY],
        check=True,
        env=env,
    )
    return python, env, tmp / "built"


def _target(python_version: str) -> list[str]:
    major, minor = GLIBC
    plats = [f"manylinux_{major}_{n}_x86_64" for n in range(minor, 4, -1)]
    plats += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    abi = "cp" + python_version.replace(".", "")
    args = ["--only-binary=:all:", "--implementation", "cp", "--python-version", python_version]
    args += ["--abi", abi]
    for p in plats:
        args += ["--platform", p]
    return args


def _why(log: str) -> str:
    """pip's explanation of a failed resolution, without its progress and build noise."""
    keep = re.compile(r"ERROR|conflict|depends on|requested|Cannot install|No matching|Could not")
    return "\n".join(line for line in log.splitlines() if keep.search(line))[-4000:]


PYTHONS = os.environ.get("SRLM_RESOLVE_PYTHONS", "3.11").split()
ON_CI = os.environ.get("CI", "").lower() == "true"


@pytest.mark.resolve
@pytest.mark.parametrize("python_version", PYTHONS)
def test_readme_gpu_install_resolves(pip_env, tmp_path, request, python_version):
    if "resolve" not in (request.config.option.markexpr or "") and not ON_CI:
        pytest.skip("needs PyPI: run with -m resolve (CI runs it always)")
    python, env, built = pip_env
    report = tmp_path / "report.json"
    cmd = [
        *python, "-m", "pip", "install", "--dry-run", "--ignore-installed",
        "--use-feature=fast-deps", *_target(python_version), "--find-links", str(built),
        "--report", str(report), "-c", str(GPU_LOCK), "-e", ".[vllm]",
    ]  # fmt: skip
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    log = run.stdout + run.stderr
    assert run.returncode == 0, _why(log)

    # metadata only: no wheel over 5 MB was downloaded whole
    big = [
        m.group(0)
        for m in re.finditer(r"Downloading (\S+\.whl) \(([\d.]+) (kB|MB|GB)\)", log)
        if m.group(3) == "GB" or (m.group(3) == "MB" and float(m.group(2)) > 5)
    ]
    assert not big, f"the dry run downloaded whole wheels: {big}"

    picked = {
        canonicalize_name(i["metadata"]["name"]): i["metadata"]
        for i in json.loads(report.read_text())["install"]
    }
    torch_meta = picked["torch"]
    assert torch_meta["version"] == "2.13.0"  # no local label: PyPI's build, not +cpu
    cuda = [r for r in torch_meta.get("requires_dist", []) if r.startswith(("nvidia-", "cuda-"))]
    assert cuda, "torch 2.13.0 without CUDA dependencies: not the CUDA build"
    assert picked["transformers"]["version"] == "5.17.0"
    assert picked["vllm"]["version"] == _pins(GPU_LOCK)["vllm"].lstrip("=")
    assert picked["trl"]["version"] == "1.16.0"
    assert not [n for n, m in picked.items() if "+cpu" in m["version"]]
    print(
        f"\nresolved for cp{python_version} manylinux x86_64 in {seconds:.0f} s: "
        f"{len(picked)} packages, torch {torch_meta['version']} ({len(cuda)} CUDA requirements), "
        f"vllm {picked['vllm']['version']}, transformers {picked['transformers']['version']}, "
        f"numpy {picked['numpy']['version']}"
    )


@pytest.mark.resolve
def test_gpu_check_dry_run(request):
    """The prepared GPU check, on this CPU machine: its wheels fetched, its dry run passes."""
    if "resolve" not in (request.config.option.markexpr or "") and not ON_CI:
        pytest.skip("needs PyPI: run with -m resolve (CI runs it always)")
    for script in ("fetch_gpu_wheels.sh", "gpu_check.sh"):
        args = ["--dry-run"] if script == "gpu_check.sh" else []
        run = subprocess.run(
            ["bash", f"benchmarks/{script}", *args], cwd=REPO, capture_output=True, text=True
        )
        assert run.returncode == 0, (script, (run.stdout + run.stderr)[-3000:])
    assert "gpu_check.sh --dry-run: ok" in run.stdout + run.stderr
