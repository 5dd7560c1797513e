"""The vLLM backend against the HF backend on the same tiny model and workload (CPU).

    ./setup.sh vllm && .venv-vllm/bin/python benchmarks/vllm_vs_hf.py [--model DIR]

Two workloads, each through the backend's own ``generate`` (what the loop calls): candidate
sampling (N=4 samples per prompt) and judging (the verbatim judge_additive5 prompt, k=3 samples
per prompt). Generated tokens/s count only the time inside ``generate``; loading the model (HF)
or starting the engine (vLLM) is timed apart, since the loop pays it once per model while the
generation figures grow with the workload. Prints Markdown; figures are noisy on a shared machine.

vLLM runs as ``srlm.generation.vllm.load`` sets it up on CPU (eager, chunked prefill off, 1 GiB
KV cache, float32); its worker runs torch on one thread, so the HF backend gets ``--threads 1``
too. ``--compile`` starts vLLM with its torch.compile warm-up instead of eager.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from generation import table, tiny_model

from srlm.data.synthetic import SyntheticWorld
from srlm.generation.base import Sampling
from srlm.judges import Judge
from srlm.models.loading import chat_prompt, load_tokenizer


def workloads(tok, n_candidates: int, n_judge: int, max_new: int) -> dict[str, tuple]:
    world = SyntheticWorld(seed=1)
    policy = [chat_prompt(tok, world.task().prompt) for _ in range(n_candidates)]
    judge = Judge(template="judge_additive5")
    judged = []
    for i in range(n_judge):
        task = world.task()
        judged.append(chat_prompt(tok, judge.render(task.prompt, world.response(task, i % 6))))
    return {
        f"candidates: {n_candidates} prompts, N=4": (
            policy,
            Sampling(n=4, temperature=0.7, top_p=0.9, max_new_tokens=max_new, seed=0),
        ),
        f"judge_additive5 (verbatim): {n_judge} prompts, k=3": (
            judged,
            Sampling(n=3, temperature=0.7, top_p=0.9, max_new_tokens=max_new, seed=0),
        ),
    }


def measure(gen, prompts: list[str], sampling: Sampling, repeats: int) -> tuple[int, float]:
    """(generated tokens, seconds) of the fastest of ``repeats`` runs, after a warm-up call."""
    gen.generate(prompts[:2], sampling)
    best = None
    for _ in range(repeats):
        before = gen.tokens_generated
        t = time.perf_counter()
        gen.generate(prompts, sampling)
        run = (gen.tokens_generated - before, time.perf_counter() - t)
        best = run if best is None or run[1] < best[1] else best
    return best


def main() -> None:
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM logs to stdout: keep the tables
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help="checkpoint dir (default: the newest tiny M0, or a new one)"
    )
    parser.add_argument("--candidates", type=int, default=64, help="policy prompts")
    parser.add_argument("--judge", type=int, default=32, help="judge prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the HF backend")
    parser.add_argument("--compile", action="store_true", help="vLLM with torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from srlm.generation import hf, vllm

    model = tiny_model(args.model)
    tok = load_tokenizer(model)
    work = workloads(tok, args.candidates, args.judge, args.max_new_tokens)
    lengths = {
        name: [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        for name, (prompts, _) in work.items()
    }
    print(f"model: {model}; max_new_tokens={args.max_new_tokens}; fastest of {args.repeats}")

    results: dict[str, dict[str, tuple[int, float]]] = {}
    starts: dict[str, float] = {}
    t = time.perf_counter()
    gen = hf.load(str(model), batch_size=64)
    starts["hf"] = time.perf_counter() - t
    results["hf"] = {name: measure(gen, p, s, args.repeats) for name, (p, s) in work.items()}
    gen.close()

    engine_args = {"enforce_eager": False} if args.compile else {}
    t = time.perf_counter()
    gen = vllm.load(model, max_model_len=1024, engine_args=engine_args)
    starts["vllm"] = time.perf_counter() - t
    try:
        results["vllm"] = {name: measure(gen, p, s, args.repeats) for name, (p, s) in work.items()}
    finally:
        gen.close()

    rows = []
    for name in work:
        (hf_tok, hf_s), (v_tok, v_s) = results["hf"][name], results["vllm"][name]
        rows.append(
            [
                name,
                f"{min(lengths[name])}-{max(lengths[name])}",
                f"{hf_tok:,} in {hf_s:.2f} s",
                hf_tok / hf_s,
                f"{v_tok:,} in {v_s:.2f} s",
                v_tok / v_s,
                f"{(v_tok / v_s) / (hf_tok / hf_s):.2f}x",
            ]
        )
    header = ["workload", "prompt tokens", "HF", "HF tok/s", "vLLM", "vLLM tok/s", "vLLM / HF"]
    print("\n" + table(header, rows))
    mode = "torch.compile" if args.compile else "eager"
    print(
        f"\nstart, apart from the above: HF model load {starts['hf']:.1f} s; vLLM engine start "
        f"{starts['vllm']:.1f} s ({mode}). torch threads: HF {args.threads}, vLLM worker 1."
    )


if __name__ == "__main__":  # vLLM starts its engine processes with spawn
    main()
