"""M0 for the embedded default: a tiny Llama built and briefly pretrained locally, no network.

The result is an ordinary HF checkpoint directory (safetensors + tokenizer + chat template), so
everything downstream loads it through ``AutoModelForCausalLM.from_pretrained`` exactly as it would
a hub model. The build is deterministic for its recipe; the caller caches it by the recipe's hash.
"""

from __future__ import annotations

import logging
import math
import random
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from srlm.data.synthetic import pretraining_corpus
from srlm.judges import load_prompt

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<|pad|>", "<|end|>", "<|user|>", "<|assistant|>"]

# Role headers carry their own newline and nothing follows <|end|>, so TRL's completions end
# exactly at EOS (TRL keeps text after EOS); {% generation %} marks what the loss trains on.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|user|>\n{{ message['content'] }}\n"
    "{% elif message['role'] == 'assistant' %}<|assistant|>\n"
    "{% generation %}{{ message['content'] }}<|end|>{% endgeneration %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def tokenizer_prompts() -> list[str]:
    """Prompt texts the tokenizer also learns from (part of M0's cache key)."""
    return [
        load_prompt(n)
        for n in ("judge_additive5", "judge_multiple_choice", "judge_additive5_condensed")
    ]


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>", padding_side="left"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    intermediate_size: int = 384,
    max_position_embeddings: int = 1024,
    corpus_documents: int = 10000,
    corpus_compare_every: int = 0,
    pretrain_steps: int = 2400,
    pretrain_batch_size: int = 32,
    pretrain_lr: float = 1e-3,
    threads: int | None = None,
) -> Path:
    """Tokenizer + model + brief causal-LM pretraining on the synthetic corpus; saved to out_dir."""
    out_dir = Path(out_dir)
    random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    docs = pretraining_corpus(seed, corpus_documents, compare_every=corpus_compare_every)
    # The judge and Self-Instruct wording goes into the tokenizer corpus (not into pretraining),
    # so the paper's long prompts tokenize compactly.
    prompt_texts = [
        load_prompt(n)
        for n in ("judge_additive5", "judge_multiple_choice", "judge_additive5_condensed")
    ]
    tokenizer = train_tokenizer(docs + prompt_texts * 20, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    model = LlamaForCausalLM(config)
    _pretrain(model, tokenizer, docs, pretrain_steps, pretrain_batch_size, pretrain_lr, seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def _pretrain(model, tokenizer, docs, steps, batch_size, lr, seed) -> None:
    """Plain causal-LM training. Batches come from one length bucket at a time, so the few long
    task-list documents do not pad every batch (the short solved tasks are where the ~1,000 steps
    a tiny transformer needs to learn copying go: at lr 3e-3 it never learns it)."""
    eos = tokenizer.eos_token
    encoded = [tokenizer(d + eos, add_special_tokens=False)["input_ids"] for d in docs]
    short = [x for x in encoded if len(x) <= 48]
    long = [x for x in encoded if len(x) > 48] or short
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 20) * 0.5 * (1 + math.cos(math.pi * s / steps))
    )
    model.train()
    start, loss = time.perf_counter(), float("nan")
    bar = tqdm(range(steps), desc="M0 pretraining", leave=False)
    for _ in bar:
        pool = long if rng.random() < len(long) / len(encoded) else short
        batch = rng.sample(pool, min(batch_size, len(pool)))
        width = max(map(len, batch))
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, seq in enumerate(batch):
            input_ids[i, : len(seq)] = torch.tensor(seq)
            labels[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        out = model(input_ids=input_ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        loss = out.loss.item()
        bar.set_postfix(loss=f"{loss:.3f}")
    model.eval()
    log.info(
        "M0 pretraining: steps=%d final_loss=%.3f time=%.1fs",
        steps,
        loss,
        time.perf_counter() - start,
    )
