"""Loading M_t and preparing its tokenizer: the same path for the tiny model and a hub model."""

from __future__ import annotations

from pathlib import Path

import torch

from srlm.models.tiny import CHAT_TEMPLATE, SPECIAL_TOKENS

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_tokenizer(path: str | Path, chat_template: str | None = None):
    """Left padding for generation; a chat template with {% generation %} markers for SFT/DPO.

    ``chat_template``: None keeps the tokenizer's own (the tiny builder writes srlm's),
    "srlm" applies srlm's template (base models like Llama 2 have none), "tokenizer" keeps the
    tokenizer's own and fails if it lacks one, and a path reads a Jinja template from that file
    (it needs ``{% generation %}`` markers for assistant-only SFT).
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if chat_template not in (None, "srlm", "tokenizer"):
        template = Path(chat_template).expanduser()
        if not template.is_file():
            raise FileNotFoundError(
                f"model.chat_template={chat_template!r}: not srlm, tokenizer or a template file"
            )
        tok.chat_template = template.read_text(encoding="utf-8")
    elif chat_template == "srlm" or (chat_template is None and not tok.chat_template):
        # A base model (Llama 2 70B) has no chat template: srlm's, with its role tokens added
        # (training resizes the embeddings) and <|end|> as the end of an assistant turn.
        tok.chat_template = CHAT_TEMPLATE
        missing = [t for t in SPECIAL_TOKENS[1:] if t not in tok.get_vocab()]
        if missing:
            tok.add_special_tokens({"additional_special_tokens": missing})
        tok.eos_token = "<|end|>"
    elif chat_template == "tokenizer" and not tok.chat_template:
        raise ValueError(
            f"{path}: the tokenizer has no chat template (model.chat_template=tokenizer)"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def load_model(path: str | Path, dtype: str | None = None, for_training: bool = False, **config):
    """M_t from a checkpoint: on the GPU and in eval mode for generation; as it is for a trainer
    (which places it). ``config`` overrides the model config (dropout for training)."""
    from transformers import AutoModelForCausalLM

    kwargs: dict = dict(config)
    if dtype and dtype != "auto":
        kwargs["dtype"] = DTYPES[dtype]
    model = AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    if for_training:
        return model
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model.eval()


def chat_prompt(tokenizer, user_text: str) -> str:
    """One user turn, ready for the assistant's answer."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
    )
