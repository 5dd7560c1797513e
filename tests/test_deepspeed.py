"""DPO under DeepSpeed ZeRO-3 with two CPU processes (gloo) matches plain one-process training.

Both runs train the same tiny model on the same 16 pairs for 4 steps at lr 1e-3 with the same
global batch (``batch_size: 16`` is global in srlm): one process takes all 16 in one micro-batch
without DeepSpeed; under ZeRO-3 two ranks take 8 each, with ``max_micro_batch: 4``, as 2
micro-batches of 4 with gradient accumulation (4 x 2 accumulation x 2 ranks = 16, derived by
``srlm.training.batch_plan``; the test checks what the trainers really used). Every batch is the
whole data set, so shuffling cannot make the two runs see different pairs.

Tolerance: every logged loss within 1e-5, every saved weight within 1e-4 (and within 5% of how far
training moved the weights, about 4e-3). Measured on the 2-core dev machine: losses within 1e-7,
weights within 2.4e-6. It is not exact because float32 addition is not associative: the ranks'
two gradients are reduce-scattered instead of summed inside one batch, each rank pads its 8 pairs
to its own length (other matmul shapes, other BLAS blocking), and ZeRO computes the clipping norm
over flattened partitions. Those round-off differences (~1e-7) then pass through Adam, whose
division by sqrt(v) magnifies them for near-zero gradient components.

Cost: about 20-35 s warm (two ranks, then one process; M0 comes from conftest). The first
DeepSpeed run on a machine also JIT-compiles its shm comm op into ~/.cache/torch_extensions: the
whole test then took 170 s here (the compile alone 90 s), hence the generous timeouts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HELPER = REPO / "tests" / "helpers_distributed.py"
ZERO3 = REPO / "conf" / "train" / "deepspeed" / "zero3.json"

LOSS_ATOL = 1e-5
WEIGHT_ATOL = 1e-4

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("deepspeed") is None,
        reason="deepspeed is not installed (pip install -e '.[deepspeed]')",
    ),
]

PAIRS = [
    {
        "prompt": f"What is {a} plus {b}?",
        "chosen": f"{a} plus {b} is {a + b}.",
        "rejected": "Maybe.",
    }
    for a, b in [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
] + [
    {"prompt": f"Name a {kind}.", "chosen": f"A {kind}: {name}.", "rejected": "I cannot say."}
    for kind, name in [
        ("colour", "blue"),
        ("fruit", "apple"),
        ("planet", "Mars"),
        ("metal", "iron"),
        ("river", "the Nile"),
        ("bird", "a robin"),
        ("tree", "an oak"),
        ("season", "winter"),
    ]
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "DEEPSPEED_"))}
    for key in (
        "RANK",
        "LOCAL_RANK",
        "WORLD_SIZE",
        "LOCAL_WORLD_SIZE",
        "MASTER_ADDR",
        "MASTER_PORT",
    ):
        env.pop(key, None)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        WANDB_MODE="disabled",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _run(cmd: list[str], timeout: int) -> None:
    proc = subprocess.run(
        cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).splitlines()
        errors = [line for line in lines if "Error" in line][:12]  # the ranks' own exceptions
        tail = "\n".join(line[:300] for line in lines if "it/s]" not in line)[-5000:]
        pytest.fail(f"exited {proc.returncode}: {cmd[:6]}\n" + "\n".join(errors) + f"\n...\n{tail}")


def _weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_zero3_two_processes_match_one_process(tiny_m0, tmp_path) -> None:
    base = tiny_m0  # conftest's session M0
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps(PAIRS))
    common = ["--base", str(base), "--pairs", str(pairs), "--steps", "4", "--lr", "1e-3"]

    one, two = tmp_path / "one", tmp_path / "two"
    _run(
        [sys.executable, str(HELPER), *common, "--out", str(one), "--result", f"{one}.json"]
        + ["--batch-size", "16"],
        timeout=300,
    )
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--use_deepspeed"]
    launch += ["--zero_stage", "3", "--num_processes", "2", "--num_machines", "1"]
    launch += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--main_process_port", str(_free_port())]
    _run(
        [*launch, str(HELPER), *common, "--out", str(two), "--result", f"{two}.json"]
        + ["--batch-size", "16", "--max-micro-batch", "4", "--deepspeed", str(ZERO3)],
        timeout=480,
    )

    r1 = json.loads(Path(f"{one}.json").read_text())
    r2 = json.loads(Path(f"{two}.json").read_text())
    assert (r1["world_size"], r2["world_size"]) == (1, 2)
    # The global batch is 16 in both; the two ranks reach it by accumulating micro-batches of 4.
    plan = ("train/global_batch", "train/processes", "train/micro_batch", "train/grad_accum")
    one_plan = tuple(r1["metrics"][k] for k in plan)
    two_plan = tuple(r2["metrics"][k] for k in plan)
    print(f"(global, processes, micro, accumulation): one {one_plan}, two {two_plan}")
    assert one_plan == (16, 1, 16, 1)
    assert two_plan == (16, 2, 4, 2)
    assert (r1["trainer_batch"], r2["trainer_batch"]) == ([16, 1], [4, 2])
    print(f"DeepSpeed engine config (two ranks): {r2['deepspeed_batch']}")
    assert r2["deepspeed_batch"] == {  # the "auto" values DeepSpeed really ran with
        "train_micro_batch_size_per_gpu": 4,
        "gradient_accumulation_steps": 2,
        "train_batch_size": 16,
    }
    assert len(r1["losses"]) == len(r2["losses"]) == 4
    assert r1["losses"][-1] < r1["losses"][0] - 0.1  # it trained
    assert r2["losses"] == pytest.approx(r1["losses"], abs=LOSS_ATOL)

    # ZeRO-3 shards the parameters; the saved model must be the gathered, full one.
    w0, w1, w2 = _weights(base), _weights(one), _weights(two)
    assert w2.keys() == w1.keys()
    assert all(w2[k].shape == w1[k].shape for k in w1)
    moved = max((w1[k] - w0[k]).abs().max().item() for k in w1)
    diff = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    print(f"loss diffs {[abs(a - b) for a, b in zip(r1['losses'], r2['losses'])]}")
    print(f"weights: max diff {diff:.3g}, max moved {moved:.3g}")
    assert moved > 1e-3, moved
    assert diff <= min(WEIGHT_ATOL, 0.05 * moved), (diff, moved)
