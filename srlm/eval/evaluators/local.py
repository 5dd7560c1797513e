"""A local causal LM as the pairwise judge: the AlpacaEval prompt in the model's chat template."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from srlm.eval.evaluators.base import (
    Evaluator,
    Item,
    parse_verdict,
    prompt_to_messages,
    render_pairwise_prompt,
)


def render_for_tokenizer(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The judge prompt as a local model sees it: its own chat template when it has one.

    Templates that reject or silently drop the system turn (Llama 2 style, srlm's own) get the
    system text prepended to the user turn; a tokenizer with no template gets the ChatML text.
    """
    if not getattr(tokenizer, "chat_template", None):
        chatml = "".join(f"<|im_start|>{m['role']}\n{m['content']}\n<|im_end|>\n" for m in messages)
        return chatml + "<|im_start|>assistant\n"

    def apply(msgs: list[dict[str, str]]) -> str:
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    system = [m["content"] for m in messages if m["role"] == "system"]
    if system:
        try:
            text = apply(messages)
            if all(s in text for s in system):
                return text
        except Exception:  # jinja raises for "system role not supported"
            pass
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = "\n\n".join([*system, rest[0]["content"]])
    return apply(rest)


class LocalEvaluator(Evaluator):
    """A local causal LM as the pairwise judge: the same AlpacaEval prompt (in the model's own
    chat template), greedy, batched, the same verdict parser.

    The model loads on the first ``compare``, so composing a config costs nothing. There is no
    answer cache: greedy answers are reproducible and free, and a local path can hold a
    different model later under the same name.
    """

    def __init__(
        self,
        model_name_or_path: str,
        batch_size: int = 16,
        max_new_tokens: int = 16,
        dtype: str | None = None,
    ):
        self.model_name_or_path = model_name_or_path
        self.batch_size, self.max_new_tokens, self.dtype = batch_size, max_new_tokens, dtype
        self._generator: Any = None

    def _load(self) -> Any:
        if self._generator is None:
            from transformers import AutoTokenizer

            from srlm.generation.hf import HFGenerator
            from srlm.models.loading import load_model

            # Not srlm.models.loading.load_tokenizer: for a tokenizer without a chat template it
            # installs srlm's and adds role tokens this judge's embeddings do not have; here a
            # template-less judge reads the ChatML text instead (render_for_tokenizer).
            tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.padding_side = "left"
            model = load_model(self.model_name_or_path, self.dtype)
            self._generator = HFGenerator(model, tokenizer, self.batch_size, desc="pairwise judge")
        return self._generator

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        if not items:
            return []
        from srlm.generation.base import Sampling

        generator = self._load()
        texts = [
            render_for_tokenizer(
                generator.tokenizer, prompt_to_messages(render_pairwise_prompt(*it))
            )
            for it in items
        ]
        unique = list(dict.fromkeys(texts))
        sampling = Sampling(n=1, temperature=0.0, top_p=1.0, max_new_tokens=self.max_new_tokens)
        answers = dict(zip(unique, generator.generate(unique, sampling)))
        return [parse_verdict(answers[t][0] if answers[t] else None) for t in texts]
