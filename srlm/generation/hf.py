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
from functools import partial

import torch
from tqdm.auto import tqdm
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

from srlm.generation.base import LENGTH, STOP, Completion, Sampling, apply_stop

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

    def close(self) -> None:
        """Drop the model; the caller's ``gc.collect()`` and ``empty_cache()`` free its memory."""
        self.model = None

    def _generate_batch(
        self, batch: list[list[int]], s: Sampling, gen: torch.Generator
    ) -> list[Completion]:
        """Decode a batch; rows that finished leave it, so the rest decode without them.

        A row's ``finish_reason`` is "stop" when it produced the end-of-sequence token or a stop
        string within ``max_new_tokens``, else "length" (``srlm.generation.base.Completion``)."""
        pad, eos = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        logits, cache, mask, positions = self._prefill(batch, room=s.max_new_tokens)
        if s.n > 1:
            cache.batch_repeat_interleave(s.n)
            logits = logits.repeat_interleave(s.n, dim=0)
            mask = mask.repeat_interleave(s.n, dim=0)
            positions = positions.repeat_interleave(s.n, dim=0)
        rows = logits.size(0)
        tokens = torch.full((rows, s.max_new_tokens), pad, dtype=torch.long)
        alive = torch.arange(rows)  # the original row of each row still decoding
        finished = torch.zeros(rows, dtype=torch.bool, device=logits.device)
        next_pos = positions[:, -1:] + 1
        for step in range(s.max_new_tokens):
            token = _sample(logits.float(), s, gen)
            token = torch.where(finished, torch.full_like(token, pad), token)
            tokens[alive, step] = token.cpu()
            finished |= token == eos
            if bool(finished.all()) or step == s.max_new_tokens - 1:
                break
            if int(finished.sum()) * 8 >= len(alive):  # drop finished rows (a copy of the cache)
                keep = (~finished).nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                alive, token, finished = alive[keep.cpu()], token[keep], finished[keep]
                mask, next_pos = mask[keep], next_pos[keep]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            out = self.model(
                input_ids=token.unsqueeze(1),
                attention_mask=mask,
                position_ids=next_pos,
                past_key_values=cache,
                use_cache=True,
            )
            cache, logits, next_pos = out.past_key_values, out.logits[:, -1, :], next_pos + 1
        texts = []
        for row in tokens.tolist():
            ended = eos in row
            row = row[: row.index(eos)] if ended else row
            row = [t for t in row if t != pad]
            self.tokens_generated += len(row)
            full = self.tokenizer.decode(row, skip_special_tokens=True)
            text = apply_stop(full, s.stop)
            # No end of sequence within max_new_tokens and no stop string: cut off by the limit.
            ended = ended or len(text) < len(full)
            texts.append(Completion(text, STOP if ended else LENGTH))
        return texts

    def _prefill(self, batch: list[list[int]], room: int = 0):
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
        cache = ReservedCache(room)
        if shared:
            prefix = torch.tensor([batch[0][:shared]], device=device)
            self.model(input_ids=prefix, past_key_values=cache, use_cache=True)
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


class _ReservedLayer(DynamicLayer):
    """A KV-cache layer with spare room: a decode step writes its token in place.

    ``DynamicLayer`` re-concatenates the whole cache every step; at 192 rows x ~450 tokens that
    copy was 85% of a CPU decode step (benchmarks/README.md). Here the keys and values live in a
    buffer with ``room`` free slots and the model sees views of its filled part.
    """

    def __init__(self, room: int = 0):
        super().__init__()
        self.room, self.length = room, 0
        self._k = self._v = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.dtype, self.device = key_states.dtype, key_states.device
        self.is_initialized = True

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = key_states.shape[-2]
        if self._k is None or self.length + n > self._k.shape[-2]:
            self._k = self._grown(self._k, key_states, self.length + n + self.room)
            self._v = self._grown(self._v, value_states, self.length + n + self.room)
        self._k[..., self.length : self.length + n, :] = key_states
        self._v[..., self.length : self.length + n, :] = value_states
        self.length += n
        self._views()
        return self.keys, self.values

    def _grown(self, old: torch.Tensor | None, new: torch.Tensor, size: int) -> torch.Tensor:
        buf = new.new_empty((*new.shape[:-2], size, new.shape[-1]))
        if old is not None:
            buf[..., : self.length, :] = old[..., : self.length, :]
        return buf

    def _views(self) -> None:
        self.keys = self._k[..., : self.length, :]
        self.values = self._v[..., : self.length, :]

    def get_seq_length(self) -> int:
        return self.length

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.length:
            self._k = self._k.repeat_interleave(repeats, dim=0)
            self._v = self._v.repeat_interleave(repeats, dim=0)
            self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.length:
            self._k, self._v = self._k[indices], self._v[indices]
            self._views()


class ReservedCache(DynamicCache):
    """A ``DynamicCache`` of ``_ReservedLayer``s, each with ``room`` free slots."""

    def __init__(self, room: int = 0):
        Cache.__init__(self, layer_class_to_replicate=partial(_ReservedLayer, room))


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
    prefix_reuse: bool = True,
):
    """The factory ``conf/generation/hf.yaml`` names: M_t from disk, ready to sample."""
    from srlm.models.loading import load_model, load_tokenizer

    return HFGenerator(
        load_model(model_path, dtype),
        load_tokenizer(model_path),
        batch_size,
        prefix_reuse=prefix_reuse,
    )
