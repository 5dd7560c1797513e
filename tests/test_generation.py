"""The HF backend: n samples from one prefill, batching and sorting invisible to the caller."""

import torch
from transformers import AutoModelForCausalLM

from srlm.generation.base import Sampling, apply_stop
from srlm.generation.hf import HFGenerator, load


def test_greedy_matches_transformers_generate(tiny_m0):
    gen = load(str(tiny_m0), batch_size=3)
    prompts = ["Copy the letters: a b", "Reverse the letters: c d e f g", "Sort the letters: b a"]
    out = gen.generate(prompts, Sampling(n=1, temperature=0, max_new_tokens=8))
    model = AutoModelForCausalLM.from_pretrained(tiny_m0)
    for p, o in zip(prompts, out):
        ids = gen.tokenizer(p, return_tensors="pt", add_special_tokens=False)
        ref = model.generate(
            **ids, max_new_tokens=8, do_sample=False, pad_token_id=gen.tokenizer.pad_token_id
        )
        text = gen.tokenizer.decode(ref[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        assert o == [text]


def test_n_samples_one_prefill_and_determinism(tiny_m0):
    gen = load(str(tiny_m0), batch_size=2)
    prompts = ["Copy the letters: a b", "Give the first letter of: c d", "Uppercase the letters: e"]
    s = Sampling(n=4, temperature=1.0, top_p=0.95, max_new_tokens=6, seed=1)
    a = gen.generate(prompts, s)
    assert [len(x) for x in a] == [4, 4, 4]
    assert gen.tokens_prefilled == sum(
        len(gen.tokenizer(p)["input_ids"]) for p in prompts
    )  # once each
    assert gen.generate(prompts, s) == a
    assert gen.generate(prompts, Sampling(**{**s.__dict__, "seed": 2})) != a


def test_top_p_keeps_the_top_token():
    from srlm.generation.hf import _sample

    logits = torch.tensor([[10.0, 0.0, -5.0]])
    g = torch.Generator().manual_seed(0)
    assert all(
        _sample(logits, Sampling(temperature=1.0, top_p=0.1), g).item() == 0 for _ in range(20)
    )


def test_stop_strings():
    assert apply_stop("one\n\ntwo", ("\n\n",)) == "one"
    assert apply_stop("abc", ()) == "abc"


def test_empty_prompt_list(tiny_m0):
    gen = HFGenerator(AutoModelForCausalLM.from_pretrained(tiny_m0), load(str(tiny_m0)).tokenizer)
    assert gen.generate([], Sampling()) == []


def test_finished_rows_leave_the_batch_and_outputs_stay_the_same(tiny_m0):
    """Rows that end early are dropped from the batch; greedy texts equal one-at-a-time ones."""
    from srlm.models.loading import chat_prompt

    gen = load(str(tiny_m0), batch_size=16)
    tasks = ["Give the first letter of: a b", "Repeat the letters twice: c d e f g"]
    tasks += ["Copy the letters: h", "Reverse the letters: a b c d e", "Uppercase the letters: b"]
    prompts = [chat_prompt(gen.tokenizer, t) for t in tasks]
    rows_seen = []
    hook = gen.model.register_forward_pre_hook(
        lambda _m, _a, kw: rows_seen.append(kw["input_ids"].shape), with_kwargs=True
    )
    s = Sampling(n=1, temperature=0, max_new_tokens=24)
    batched = gen.generate(prompts, s)
    hook.remove()
    decode_rows = [shape[0] for shape in rows_seen if shape[1] == 1]
    assert decode_rows[0] == len(prompts) and min(decode_rows) < len(prompts)
    one = load(str(tiny_m0), batch_size=1)
    assert batched == [one.generate([p], s)[0] for p in prompts]
