"""M0 for the embedded default: deterministic, a real HF checkpoint, a template TRL can mask."""

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from srlm.models.loading import chat_prompt, load_tokenizer
from srlm.models.tiny import build_tiny_model


def test_round_trip_through_from_pretrained(tiny_m0, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_m0)
    tok = AutoTokenizer.from_pretrained(tiny_m0)
    assert model.config.model_type == "llama"
    ids = tok("Reverse the letters: a b c", return_tensors="pt")
    logits = model(**ids).logits
    model.save_pretrained(tmp_path / "again")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "again")
    assert torch.equal(again(**ids).logits, logits)


def test_build_is_deterministic(tmp_path):
    a = build_tiny_model(tmp_path / "a", corpus_documents=200, pretrain_steps=3, vocab_size=400)
    b = build_tiny_model(tmp_path / "b", corpus_documents=200, pretrain_steps=3, vocab_size=400)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()
    wa = AutoModelForCausalLM.from_pretrained(a).state_dict()
    wb = AutoModelForCausalLM.from_pretrained(b).state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_chat_template_marks_assistant_tokens(tiny_m0):
    tok = load_tokenizer(tiny_m0)
    assert tok.padding_side == "left"
    msgs = [
        {"role": "user", "content": "Copy the letters: a b"},
        {"role": "assistant", "content": "a b"},
    ]
    out = tok.apply_chat_template(
        msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = out["input_ids"], out["assistant_masks"]
    assistant = tok.decode([i for i, m in zip(ids, mask) if m])
    assert assistant == "a b<|end|>"
    assert chat_prompt(tok, "hi").endswith("<|assistant|>\n")


def test_base_model_tokenizer_gets_srlm_template_and_role_tokens(tmp_path):
    """A hub base model (no chat template, no role tokens) gets srlm's template and tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel()
    raw.train_from_iterator(
        ["hello world"] * 10, trainers.BpeTrainer(vocab_size=300, special_tokens=["</s>"])
    )
    PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="</s>").save_pretrained(tmp_path)
    tok = load_tokenizer(tmp_path, "srlm")
    assert {"<|user|>", "<|assistant|>", "<|end|>"} <= set(tok.get_vocab())
    assert (
        tok.eos_token == "<|end|>" and tok.pad_token == "<|end|>"
    )  # no pad token of its own: pads with EOS
    assert chat_prompt(tok, "hi") == "<|user|>\nhi\n<|assistant|>\n"
