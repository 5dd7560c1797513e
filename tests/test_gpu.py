"""On CUDA (``pytest -m gpu``): bf16 SFT and DPO through srlm.training on a random ~0.7B Llama
built from a config (no download), and srlm's HF backend on the GPU. Skipped without CUDA.

``benchmarks/gpu_check.sh`` runs these on a GPU machine (with the decode benchmark and the smoke
loop); the CPU versions of the same paths are tests/test_training.py and tests/test_generation.py.
"""

from __future__ import annotations

import math
import random

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

# ~0.72B parameters: TinyLlama's layer shapes (hidden 2048, MLP 5632, 16 layers, GQA 16/4 heads
# of 128) with a 2k-token vocabulary; random weights, saved in bf16 (1.45 GB)
LLAMA = dict(
    hidden_size=2048,
    intermediate_size=5632,
    num_hidden_layers=16,
    num_attention_heads=16,
    num_key_value_heads=4,
    max_position_embeddings=1024,
    tie_word_embeddings=False,
)
TRAIN = {
    "batch_size": 8,
    "learning_rate": 1e-4,
    "max_steps": 12,
    "epochs": 1,
    "logging_steps": 1,
    "save_steps": 1000,
    "warmup_steps": 0,
    "max_length": 128,
    "bf16": True,
    "progress_bar": False,
}


def _copy_tasks(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        word = " ".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 5)))
        out.append((f"Copy the letters: {word}", word))
    return out


@pytest.fixture(scope="module")
def random_llama(tmp_path_factory):
    """A random-weight Llama of TinyLlama's shapes and srlm's tokenizer and chat template."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from srlm.models.tiny import train_tokenizer

    texts = [f"{q}\n{a}" for q, a in _copy_tasks(500)] + ["Score: 1 2 3 4 5"] * 10
    tok = train_tokenizer(texts, vocab_size=2048)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        **LLAMA,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    n = sum(p.numel() for p in model.parameters())
    assert 0.5e9 < n < 1e9, n
    out = tmp_path_factory.mktemp("random_llama") / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    return out


def _saved_dtype(path) -> torch.dtype:
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(path)
    dtype = getattr(cfg, "dtype", None) or cfg.torch_dtype
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


@pytest.fixture(scope="module")
def sft_model(random_llama, tmp_path_factory):
    from srlm.training import train_sft

    examples = [
        [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        for q, a in _copy_tasks(96)
    ]
    out = tmp_path_factory.mktemp("sft") / "m1"
    torch.cuda.reset_peak_memory_stats()
    metrics = train_sft(random_llama, examples, out, TRAIN, seed=0)
    return out, metrics, torch.cuda.max_memory_allocated()


def test_bf16_sft_on_a_random_07b_llama(sft_model):
    out, m, peak = sft_model
    assert m["train/steps"] == TRAIN["max_steps"]
    assert math.isfinite(m["train/final_loss"])
    assert m["train/final_loss"] < m["train/first_loss"], m
    assert peak > 1.4e9, f"peak CUDA memory {peak / 1e9:.2f} GB: did it train on the GPU?"
    assert _saved_dtype(out) == torch.bfloat16


def test_bf16_dpo_on_a_random_07b_llama(sft_model, tmp_path):
    from srlm.training import train_dpo

    policy = sft_model[0]
    pairs = [
        {"prompt": q, "chosen": a, "rejected": "The weather is lovely today."}
        for q, a in _copy_tasks(96, seed=1)
    ]
    cfg = {**TRAIN, "learning_rate": 5e-5, "beta": 0.1, "loss_type": ["sigmoid"]}
    m = train_dpo(policy, pairs, tmp_path / "m2", cfg, seed=0)
    assert m["train/steps"] == TRAIN["max_steps"]
    # the first step's loss is log 2 (policy == reference); it must fall from there
    assert abs(m["train/first_loss"] - math.log(2)) < 0.05, m
    assert m["train/final_loss"] < m["train/first_loss"], m
    assert math.isfinite(m["train/reward_accuracy"])
    assert _saved_dtype(tmp_path / "m2") == torch.bfloat16


def test_hf_backend_on_cuda(tiny_m0):
    """The loop's generation path on the GPU: n samples from one prefill, seeds, greedy outputs
    that agree with one-at-a-time decoding and with the CPU (near-ties may flip one prompt)."""
    from srlm.generation.base import Sampling
    from srlm.generation.hf import HFGenerator, load

    prompts = [
        "Copy the letters: a b",
        "Reverse the letters: c d e f g",
        "Sort the letters: b a",
        "Give the first letter of: c d",
    ]
    gen = load(str(tiny_m0), batch_size=4)
    assert next(gen.model.parameters()).device.type == "cuda"
    s = Sampling(n=4, temperature=1.0, top_p=0.95, max_new_tokens=8, seed=1)
    a = gen.generate(prompts, s)
    assert [len(x) for x in a] == [4] * len(prompts)
    assert gen.generate(prompts, s) == a

    greedy = Sampling(n=1, temperature=0.0, max_new_tokens=8)
    batched = gen.generate(prompts, greedy)
    alone = HFGenerator(gen.model, gen.tokenizer, batch_size=1).generate(prompts, greedy)
    cpu = HFGenerator(gen.model.float().cpu(), gen.tokenizer, batch_size=1).generate(
        prompts, greedy
    )
    agree_alone = sum(x == y for x, y in zip(batched, alone))
    agree_cpu = sum(x == y for x, y in zip(alone, cpu))
    assert agree_alone >= len(prompts) - 1, (batched, alone)
    assert agree_cpu >= len(prompts) - 1, (alone, cpu)


def test_hf_backend_bf16_on_cuda(random_llama):
    """M_t in bf16 on the GPU (generation.dtype for real models): the batch decodes every step."""
    from srlm.generation.base import Sampling
    from srlm.generation.hf import load
    from srlm.models.loading import chat_prompt

    gen = load(str(random_llama), batch_size=16, dtype="bfloat16")
    p = next(gen.model.parameters())
    assert (p.device.type, p.dtype) == ("cuda", torch.bfloat16)
    prompts = [chat_prompt(gen.tokenizer, q) for q, _ in _copy_tasks(16)]
    out = gen.generate(prompts, Sampling(n=2, temperature=1.0, max_new_tokens=16, seed=0))
    assert [len(o) for o in out] == [2] * 16
    assert gen.tokens_generated > 0
