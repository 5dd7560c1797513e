"""Shared-prefix reuse in the HF backend: the judge rubric is prefilled once per batch, and the
outputs are the ones a plain batched prefill gives (the layout [prefix][left pad][suffix] is exact).
"""

import pytest
import torch

from srlm.generation.base import Sampling
from srlm.generation.hf import _common_prefix_len, load
from srlm.judges import Judge
from srlm.models.loading import chat_prompt

ITEMS = [
    ("Reverse the letters: c d e f", "f e d c"),
    ("Copy the letters: a b", "Sure! Here they are: a b."),
    ("Sort the letters: d a c", "a c d"),
    ("Uppercase the letters: e g", ""),
    ("Give the first letter of: q r s t u", "The sky is blue."),
    ("Count the letters: x y", "2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2"),
]
GREEDY = Sampling(n=2, temperature=0, max_new_tokens=8)


@pytest.fixture(scope="module")
def generators(tiny_m0):
    on = load(str(tiny_m0), batch_size=len(ITEMS))
    off = load(str(tiny_m0), batch_size=len(ITEMS), prefix_reuse=False)
    judge = Judge(template="judge_additive5")
    prompts = [chat_prompt(on.tokenizer, judge.render(i, r)) for i, r in ITEMS]
    return on, off, prompts


def _encode(gen, prompts):
    return [gen.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]


@pytest.mark.parametrize("batch_size", [6, 4])
def test_greedy_outputs_unchanged_and_prefix_prefilled_once(generators, batch_size):
    on, off, prompts = generators
    on.batch_size = off.batch_size = batch_size
    on.tokens_prefilled = off.tokens_prefilled = 0
    assert on.generate(prompts, GREEDY) == off.generate(prompts, GREEDY)
    encoded = sorted(_encode(on, prompts), key=len, reverse=True)  # the generator's batches
    batches = [encoded[i : i + batch_size] for i in range(0, len(encoded), batch_size)]
    assert _common_prefix_len(encoded) > 200  # the rubric (and the chat template's head)
    saved = sum((len(b) - 1) * _common_prefix_len(b) for b in batches)
    assert off.tokens_prefilled == sum(map(len, encoded))
    assert off.tokens_prefilled - on.tokens_prefilled == saved


def test_prefill_logits_match(generators):
    on, off, prompts = generators
    batch = sorted(_encode(on, prompts), key=len, reverse=True)
    with torch.inference_mode():
        a = on._prefill(batch)
        b = off._prefill(batch)
    torch.testing.assert_close(a[0], b[0], atol=1e-4, rtol=1e-4)
    assert torch.equal(a[2].sum(-1), b[2].sum(-1))  # every prompt keeps all its tokens
    assert torch.equal(a[3][:, -1], b[3][:, -1])  # and decoding continues at the same position


def test_short_or_distinct_prompts_fall_back(generators):
    on, off, _ = generators
    prompts = ["Copy the letters: a b", "Reverse the letters: c d e f g", "Sort: b a"]
    on.tokens_prefilled = off.tokens_prefilled = 0
    s = Sampling(n=1, temperature=0, max_new_tokens=6)
    assert on.generate(prompts, s) == off.generate(prompts, s)
    assert on.tokens_prefilled == off.tokens_prefilled


def test_identical_prompts_keep_one_token_each(generators):
    on, off, prompts = generators
    same = [prompts[0]] * 3
    on.tokens_prefilled = 0
    assert on.generate(same, GREEDY) == off.generate(same, GREEDY)
    n = len(_encode(on, prompts[:1])[0])
    assert on.tokens_prefilled == (n - 1) + 3
