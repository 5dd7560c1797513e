"""Pairwise evaluators for head-to-head win rates (paper §6: both orders, disagreement = tie).

- ``base``: the ``Evaluator`` interface, ``NoEvaluator``, the AlpacaEval 2.0 pairwise prompt, its
  verdict parser and the JSONL answer cache (shared by the API judge and the local judge);
- ``oracle``: ``OracleEvaluator``, the true grade of the synthetic tasks;
- ``openai_compat``: ``OpenAIEvaluator``, GPT-4 or any OpenAI-compatible chat endpoint;
- ``local``: ``LocalEvaluator``, a local causal LM with the same prompt and parser.

Every public name is importable from here (``conf/evaluator/*.yaml`` name
``srlm.eval.evaluators.<Class>``, which also keeps the store keys of existing runs).
"""

from srlm.eval.evaluators.base import (
    PAIRWISE_PROMPT,
    AnswerCache,
    Evaluator,
    Item,
    NoEvaluator,
    cache_key,
    parse_verdict,
    prompt_to_messages,
    render_pairwise_prompt,
)
from srlm.eval.evaluators.local import LocalEvaluator, render_for_tokenizer
from srlm.eval.evaluators.openai_compat import CLIENTS, MissingAPIKeyError, OpenAIEvaluator
from srlm.eval.evaluators.oracle import OracleEvaluator

__all__ = [
    "CLIENTS",
    "PAIRWISE_PROMPT",
    "AnswerCache",
    "Evaluator",
    "Item",
    "LocalEvaluator",
    "MissingAPIKeyError",
    "NoEvaluator",
    "OpenAIEvaluator",
    "OracleEvaluator",
    "cache_key",
    "parse_verdict",
    "prompt_to_messages",
    "render_for_tokenizer",
    "render_pairwise_prompt",
]
