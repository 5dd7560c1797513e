"""Pairwise evaluators for head-to-head win rates (paper §6: both orders, disagreement = tie).

An evaluator answers, for a batch of (instruction, output_1, output_2), which output is better:
"first", "second", "tie", or None when it could not say (counted as a failure, never a win).
The head-to-head stage calls it with both orders and combines them
(``srlm.eval.head_to_head.combine_orders``). Evaluators know nothing of paths or Hydra; one that
caches (the API judge) is handed a cache file by the stage.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import random
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from srlm.data.synthetic import grade
from srlm.judges import load_prompt

log = logging.getLogger(__name__)

Item = tuple[str, str, str]  # instruction, output_1, output_2


class Evaluator:
    """Base: ``compare`` one batch; ``available`` says whether head-to-head can run at all."""

    available = True
    order_independent = False

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        raise NotImplementedError


class NoEvaluator(Evaluator):
    """No judge configured: head-to-head is skipped (and said so in the log)."""

    available = False

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        return [None] * len(items)


class OracleEvaluator(Evaluator):
    """Synthetic tasks: the output with the higher true grade wins; equal grades tie."""

    order_independent = True

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        verdicts: list[str | None] = []
        for instruction, out1, out2 in items:
            g1, g2 = grade(instruction, out1), grade(instruction, out2)
            if g1 is None or g2 is None:
                verdicts.append(None)
            else:
                verdicts.append("first" if g1 > g2 else "second" if g2 > g1 else "tie")
        return verdicts


# --------------------------------------------------------------------------------------------
# The AlpacaEval 2.0 pairwise prompt, shared by the API judge and the local judge.
# --------------------------------------------------------------------------------------------

PAIRWISE_PROMPT = "alpaca_eval_pairwise"
"""``srlm/prompts/alpaca_eval_pairwise.txt``: the prompt of ``weighted_alpaca_eval_gpt4_turbo``
(AlpacaEval 2.0's default annotator, whose leaderboard the paper's Table 1 quotes), i.e.
tatsu-lab/alpaca_eval ``src/alpaca_eval/evaluators_configs/alpaca_eval_clf_gpt4_turbo/
alpaca_eval_clf.txt``. The judge answers one model identifier: ``m`` (output_1) or ``M``
(output_2); AlpacaEval reads only that first token, so there is no tie.

Provenance: everything up to ``## Task`` is byte-identical to the sibling
``alpaca_eval_clf_cot_gpt4_turbo/alpaca_eval_clf.txt`` (tatsu-lab/alpaca_eval @ d07b909), which
shares it; the ``## Task`` paragraph and ``## Best Model Identifier`` ending are the non-CoT
wording, identical in every public copy of this file consulted (the file itself was not
retrievable here)."""

_PLACEHOLDER = re.compile(r"\{(instruction|output_1|output_2)\}")
_STRIP = " \t\r\n\"'`*.:;,!()[]<>"
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_'\u2019])([mM])(?![A-Za-z0-9_'\u2019])")
_VERDICT_OF_IDENTIFIER = {"m": "first", "M": "second"}


def render_pairwise_prompt(
    instruction: str, output_1: str, output_2: str, template: str | None = None
) -> str:
    """The filled ChatML-style prompt text (the cache key is computed from exactly this text).

    One pass over the placeholders, so an instruction that happens to contain ``{output_1}`` is
    not itself substituted (alpaca_eval's sequential ``str.replace`` would; otherwise identical).
    """
    template = load_prompt(PAIRWISE_PROMPT) if template is None else template
    values = {"instruction": instruction, "output_1": output_1, "output_2": output_2}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def prompt_to_messages(prompt: str) -> list[dict[str, str]]:
    """Chat messages from ``<|im_start|>role ... <|im_end|>`` text, as alpaca_eval's
    ``utils.prompt_to_chatml`` builds them for chat models (role line, stripped content)."""
    messages = []
    for block in prompt.strip().split("<|im_start|>")[1:]:
        role, _, rest = block.partition("\n")
        messages.append({"role": role.strip(), "content": rest.split("<|im_end|>", 1)[0].strip()})
    if not messages:
        raise ValueError("pairwise prompt has no <|im_start|>role blocks")
    return messages


def parse_verdict(text: str | None) -> str | None:
    """``"first"`` for ``m``, ``"second"`` for ``M``; None when the answer names neither.

    The answer stripped of quotes/punctuation, or else its first word, decides (AlpacaEval reads
    the first token). Chattier local judges get one fallback: the text's standalone ``m``/``M``
    identifiers, if they all agree. Case matters: ``m`` and ``M`` are different models.
    """
    if not text:
        return None
    stripped = text.strip(_STRIP)
    if stripped in _VERDICT_OF_IDENTIFIER:
        return _VERDICT_OF_IDENTIFIER[stripped]
    words = stripped.split()
    first = words[0].strip(_STRIP) if words else ""
    if first in _VERDICT_OF_IDENTIFIER:
        return _VERDICT_OF_IDENTIFIER[first]
    found = set(_IDENTIFIER.findall(text))
    if len(found) == 1:
        return _VERDICT_OF_IDENTIFIER[found.pop()]
    return None


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


# --------------------------------------------------------------------------------------------
# Answer cache: JSONL, one line per answer, appended as answers arrive.
# --------------------------------------------------------------------------------------------


def cache_key(model: str, prompt: str) -> str:
    """What an answer is cached under: the judge model and the exact prompt text."""
    blob = json.dumps([model, prompt], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class AnswerCache:
    """``{"key", "model", "completion"}`` lines. A resumed run re-asks nothing it has; the last
    line torn by a crash is ignored (and cut off before the next append). Raw completions are
    stored, and parsed on use, so a parser change needs no new API calls."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._checked_tail = False

    def load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        lines = self.path.read_bytes().split(b"\n")
        answers: dict[str, str] = {}
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if i == len(lines) - 1:  # no newline after it: a torn final write
                    log.warning("%s: ignoring a torn last line", self.path)
                    continue
                raise ValueError(f"{self.path}:{i + 1}: not valid JSON (corrupt cache)") from None
            if not (
                isinstance(record, dict)
                and isinstance(record.get("key"), str)
                and isinstance(record.get("completion"), str)
            ):
                raise ValueError(f"{self.path}:{i + 1}: expected {{key, completion}} strings")
            answers[record["key"]] = record["completion"]
        return answers

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._checked_tail:
            self._cut_torn_tail()
            self._checked_tail = True
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()

    def _cut_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            os.truncate(self.path, data.rfind(b"\n") + 1)


# --------------------------------------------------------------------------------------------
# OpenAI-compatible API judge.
# --------------------------------------------------------------------------------------------


class MissingAPIKeyError(RuntimeError):
    """The environment variable that should hold the API key is unset or empty."""


class _CallError(Exception):
    """One failed request: HTTP status (None: no response), Retry-After, and a short error code
    taken from the response (never its free text, which may quote a masked key)."""

    def __init__(self, status: int | None, retry_after: float | None = None, code: str = ""):
        super().__init__(f"HTTP {status}" if status else code or "no response")
        self.status, self.retry_after, self.code = status, retry_after, code

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in (408, 409, 429) or self.status >= 500

    def describe(self) -> str:
        where = f"HTTP {self.status}" if self.status else "no response"
        return f"{where} ({self.code})" if self.code else where


# An invalid request for one item (e.g. too long for the context): that verdict is None.
_PER_ITEM_STATUSES = (400, 413, 422)


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_code(body: bytes | str | None) -> str:
    """``error.code`` or ``error.type`` of an OpenAI-style error body: short identifiers only."""
    try:
        error = json.loads(body or b"").get("error") or {}
        code = error.get("code") or error.get("type") or ""
    except (ValueError, AttributeError):
        return ""
    code = str(code)
    return code if re.fullmatch(r"[\w.\-]{1,64}", code) else ""


Call = Callable[[dict[str, Any]], str]


def _urllib_call(base_url: str, api_key: str, timeout: float) -> Call:
    """POST ``{base_url}/chat/completions`` with the standard library (no extra package)."""
    url = base_url.rstrip("/") + "/chat/completions"

    def call(payload: dict[str, Any]) -> str:
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            raise _CallError(e.code, _retry_after(e.headers), _error_code(e.read())) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise _CallError(None, code=type(e).__name__) from None
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _CallError(None, code="malformed_response") from None
        return content if isinstance(content, str) else ""

    return call


def _openai_call(base_url: str, api_key: str, timeout: float) -> Call:
    """The ``openai`` client, its own retries off (ours back off and are counted)."""
    import openai

    client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    def call(payload: dict[str, Any]) -> str:
        try:
            response = client.chat.completions.create(**payload)
        except openai.APIStatusError as e:
            code = str(getattr(e, "code", None) or getattr(e, "type", None) or "")
            code = code if re.fullmatch(r"[\w.\-]{1,64}", code) else ""
            raise _CallError(e.status_code, _retry_after(e.response.headers), code) from None
        except openai.APIError as e:  # connection errors, timeouts, unreadable responses
            raise _CallError(None, code=type(e).__name__) from None
        if not response.choices:
            return ""
        return response.choices[0].message.content or ""

    return call


CLIENTS = ("openai", "urllib")


class OpenAIEvaluator(Evaluator):
    """GPT-4 (or any OpenAI-compatible chat endpoint) with the AlpacaEval pairwise prompt.

    Requests run in a pool of ``max_concurrency`` threads; 429, 408/409, 5xx and connection
    errors are retried ``max_retries`` times with exponential backoff (Retry-After honoured);
    401/403/404 stop the run at once; 400/413/422 make that one verdict None. Every answer is
    appended to the JSONL cache at ``cache_path`` as it arrives, keyed by (model, prompt text),
    so an interrupted run resumes without re-asking. The API key is read from the environment
    variable ``api_key_env``; it is never logged, cached or put in an error message.

    ``client``: "openai" (the ``openai`` package, ``pip install -e '.[openai]'``) or "urllib"
    (the standard library; same requests, no extra package). Decoding: greedy, ``max_tokens``
    1 as AlpacaEval (the answer is one identifier).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        max_retries: int = 6,
        timeout: float = 60,
        temperature: float = 0.0,
        max_tokens: int = 1,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 60.0,
        client: str = "openai",
    ):
        if client not in CLIENTS:
            raise ValueError(f"evaluator client must be one of {CLIENTS}, got {client!r}")
        if max_concurrency < 1 or max_retries < 0:
            raise ValueError("max_concurrency must be >= 1 and max_retries >= 0")
        self.base_url, self.model, self.api_key_env = base_url, model, api_key_env
        self.max_concurrency, self.max_retries, self.timeout = max_concurrency, max_retries, timeout
        self.temperature, self.max_tokens = temperature, max_tokens
        self.retry_base_delay, self.retry_max_delay = retry_base_delay, retry_max_delay
        self.client = client
        self._answers: dict[str, str] = {}
        self._rng = random.Random()
        self._call = self._make_call()

    def _make_call(self) -> Call:
        api_key = os.environ.get(self.api_key_env, "").strip()
        if not api_key:
            raise MissingAPIKeyError(
                f"environment variable {self.api_key_env} is not set: "
                "the OpenAI evaluator reads its API key from it"
            )
        if self.client == "urllib":
            return _urllib_call(self.base_url, api_key, self.timeout)
        try:
            import openai  # noqa: F401
        except ImportError:
            raise ImportError(
                "the OpenAI evaluator needs the openai package: pip install -e '.[openai]' "
                "(or set evaluator.client=urllib)"
            ) from None
        return _openai_call(self.base_url, api_key, self.timeout)

    def __repr__(self) -> str:
        return f"OpenAIEvaluator(model={self.model!r}, base_url={self.base_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickles (e.g. to a launcher's worker) carry no key: the worker reads its own env."""
        state = self.__dict__.copy()
        del state["_call"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._call = self._make_call()

    def compare(self, items: Sequence[Item], cache_path: Path | None = None) -> list[str | None]:
        prompts = [render_pairwise_prompt(*item) for item in items]
        keys = [cache_key(self.model, p) for p in prompts]
        cache = AnswerCache(cache_path) if cache_path is not None else None
        if cache is not None:
            self._answers.update(cache.load())
        todo = {k: p for k, p in zip(keys, prompts) if k not in self._answers}
        if todo:
            log.info(
                "%s: %d pairwise prompts to ask (%d cached)",
                self.model,
                len(todo),
                len(keys) - len(todo),
            )
            self._ask_all(todo, cache)
        return [parse_verdict(self._answers.get(k)) for k in keys]

    def _ask_all(self, todo: dict[str, str], cache: AnswerCache | None) -> None:
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(todo))) as pool:
            futures = {pool.submit(self._ask, prompt): key for key, prompt in todo.items()}
            try:
                for future in as_completed(futures):
                    completion = future.result()
                    if completion is None:
                        continue  # a per-item failure: not cached, so a rerun asks again
                    key = futures[future]
                    self._answers[key] = completion
                    if cache is not None:
                        cache.append({"key": key, "model": self.model, "completion": completion})
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _ask(self, prompt: str) -> str | None:
        payload = {
            "model": self.model,
            "messages": prompt_to_messages(prompt),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        for attempt in range(self.max_retries + 1):
            try:
                return self._call(payload)
            except _CallError as e:
                if e.status in _PER_ITEM_STATUSES:
                    log.warning("%s: request rejected, %s: verdict None", self.model, e.describe())
                    return None
                if not e.retryable:
                    raise RuntimeError(
                        f"OpenAI evaluator ({self.model} at {self.base_url}): {e.describe()}"
                    ) from None
                if attempt == self.max_retries:
                    raise RuntimeError(
                        f"OpenAI evaluator ({self.model} at {self.base_url}): gave up after "
                        f"{attempt + 1} attempts, last {e.describe()}"
                    ) from None
                delay = min(self.retry_max_delay, self.retry_base_delay * 2**attempt)
                delay *= 0.5 + 0.5 * self._rng.random()
                if e.retry_after is not None:
                    delay = max(delay, min(e.retry_after, self.retry_max_delay))
                log.warning(
                    "%s: %s, retry %d/%d in %.1fs",
                    self.model,
                    e.describe(),
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
        return None  # unreachable: the loop returns or raises


# --------------------------------------------------------------------------------------------
# Local HF judge.
# --------------------------------------------------------------------------------------------


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
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            from srlm.generation.hf import HFGenerator

            tokenizer = AutoTokenizer.from_pretrained(self.model_name_or_path)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            tokenizer.padding_side = "left"
            kwargs: dict[str, Any] = {}
            if self.dtype and self.dtype != "auto":
                kwargs["dtype"] = getattr(torch, self.dtype)
            model = AutoModelForCausalLM.from_pretrained(self.model_name_or_path, **kwargs)
            if torch.cuda.is_available():
                model = model.to("cuda")
            self._generator = HFGenerator(
                model.eval(), tokenizer, self.batch_size, desc="pairwise judge"
            )
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
