"""The transformers backend: batched, left-padded, length-sorted, n samples from one prefill.

``model.generate(num_return_sequences=n)`` copies each prompt n times *before* the prefill, so
the prompt is read n times. Here each batch is prefilled once, the KV cache is repeated n times
(``Cache.batch_repeat_interleave``), and decoding samples the n continuations from there: for the
judge (k=3 samples of a ~400-token prompt) most of the work is that prefill.

Every judge prompt also starts with the same ~240-token rubric, which batching alone still
prefills once per prompt. With ``prefix_reuse`` a batch whose prompts share a token prefix runs
that prefix once (batch 1), copies its KV cache to the batch and prefills only the suffixes.
"""

from __future__ import annotations

import logging

import torch
from tqdm.auto import tqdm

from srlm.generation.base import Sampling, apply_stop

log = logging.getLogger(__name__)


class HFGenerator:
    def __init__(
        self,
        model,
        tokenizer,
        batch_size: int = 32,
        desc: str = "generate",
        prefix_reuse: bool = True,
        min_prefix: int = 32,
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.desc = desc
        self.prefix_reuse = prefix_reuse
        self.min_prefix = min_prefix
        self.tokens_generated = 0
        self.tokens_prefilled = 0

    @torch.inference_mode()
    def generate(self, prompts: list[str], sampling: Sampling) -> list[list[str]]:
        if not prompts:
            return []
        tok = self.tokenizer
        encoded = [tok(p, add_special_tokens=False)["input_ids"] for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]), reverse=True)
        out: list[list[str]] = [[] for _ in prompts]
        gen = torch.Generator().manual_seed(sampling.seed)
        self.model.eval()
        bar = tqdm(total=len(prompts), desc=self.desc, leave=False, unit="prompt")
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            texts = self._generate_batch([encoded[i] for i in idx], sampling, gen)
            for j, i in enumerate(idx):
                out[i] = texts[j * sampling.n : (j + 1) * sampling.n]
            bar.update(len(idx))
        bar.close()
        return out

    def _generate_batch(
        self, batch: list[list[int]], s: Sampling, gen: torch.Generator
    ) -> list[str]:
        device = self.model.device
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        logits, cache, mask, positions = self._prefill(batch)
        if s.n > 1:
            cache.batch_repeat_interleave(s.n)
            logits = logits.repeat_interleave(s.n, dim=0)
            mask = mask.repeat_interleave(s.n, dim=0)
            positions = positions.repeat_interleave(s.n, dim=0)
        rows = logits.size(0)
        next_pos = positions[:, -1:] + 1
        finished = torch.zeros(rows, dtype=torch.bool, device=device)
        generated = []
        for step in range(s.max_new_tokens):
            token = _sample(logits.float(), s, gen)
            token = torch.where(finished, torch.full_like(token, pad), token)
            generated.append(token)
            finished |= token == eos
            if bool(finished.all()) or step == s.max_new_tokens - 1:
                break
            mask = torch.cat([mask, (~finished).long().unsqueeze(1)], dim=1)
            out = self.model(
                input_ids=token.unsqueeze(1),
                attention_mask=mask,
                position_ids=next_pos,
                past_key_values=cache,
                use_cache=True,
            )
            cache, logits, next_pos = out.past_key_values, out.logits[:, -1, :], next_pos + 1
        tokens = torch.stack(generated, dim=1).tolist()
        texts = []
        for row in tokens:
            row = row[: row.index(eos)] if eos in row else row
            row = [t for t in row if t != pad]
            self.tokens_generated += len(row)
            texts.append(apply_stop(self.tokenizer.decode(row, skip_special_tokens=True), s.stop))
        return texts

    def _prefill(self, batch: list[list[int]]):
        """Prefill a batch: last-token logits, the KV cache, the attention mask and positions.

        With a shared prefix of ``shared`` tokens the layout is [prefix][left pad][suffix]: the
        mask is 0 on the pads and positions count only real tokens, so every prompt sees exactly
        the keys, values and positions it would see alone. Each prompt keeps at least one token
        of its own, whose logits start the decoding.
        """
        device = self.model.device
        shared = 0
        if self.prefix_reuse and len(batch) > 1:
            shared = min(_common_prefix_len(batch), min(map(len, batch)) - 1)
            shared = shared if shared >= self.min_prefix else 0
        cache = None
        if shared:
            prefix = torch.tensor([batch[0][:shared]], device=device)
            cache = self.model(input_ids=prefix, use_cache=True).past_key_values
            cache.batch_repeat_interleave(len(batch))
            self.tokens_prefilled += shared
        suffixes = [seq[shared:] for seq in batch]
        width = max(map(len, suffixes))
        input_ids = torch.full((len(batch), width), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), shared + width), dtype=torch.long)
        mask[:, :shared] = 1
        for i, seq in enumerate(suffixes):  # left padding: every prompt ends at the last column
            input_ids[i, width - len(seq) :] = torch.tensor(seq)
            mask[i, shared + width - len(seq) :] = 1
        input_ids, mask = input_ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared:]
        out = self.model(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
        self.tokens_prefilled += sum(map(len, suffixes))
        return out.logits[:, -1, :], out.past_key_values, mask, positions


def _common_prefix_len(seqs: list[list[int]]) -> int:
    n = 0
    for column in zip(*seqs):
        if len(set(column)) > 1:
            break
        n += 1
    return n


def _sample(logits: torch.Tensor, s: Sampling, gen: torch.Generator) -> torch.Tensor:
    if s.greedy:
        return logits.argmax(-1)
    probs = torch.softmax(logits / s.temperature, dim=-1)
    if s.top_p < 1.0:
        sorted_probs, sorted_idx = probs.sort(dim=-1, descending=True)
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        drop = sorted_probs.cumsum(-1) - sorted_probs > s.top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, sorted_idx, sorted_probs)
    return torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(1).to(logits.device)


def load(
    model_path: str,
    batch_size: int = 64,
    dtype: str | None = None,
    chat_template: str | None = None,
    prefix_reuse: bool = True,
):
    """The factory ``conf/generation/hf.yaml`` names: M_t from disk, ready to sample."""
    from srlm.models.loading import load_model, load_tokenizer

    return HFGenerator(
        load_model(model_path, dtype),
        load_tokenizer(model_path, chat_template),
        batch_size,
        prefix_reuse=prefix_reuse,
    )
