"""GPT-4, or any OpenAI-compatible chat endpoint, as the pairwise judge (paper §6).

Named ``openai_compat`` so that nothing here can be mistaken for the ``openai`` package, which
``_openai_call`` imports lazily (absolute imports: ``import openai`` is always the library).
"""

from __future__ import annotations

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

from srlm.eval.evaluators.base import (
    AnswerCache,
    Evaluator,
    Item,
    cache_key,
    parse_verdict,
    prompt_to_messages,
    render_pairwise_prompt,
)

log = logging.getLogger(__name__)
# Each retry goes to run.log through this logger; the console shows one progress line instead.
retries_log = logging.getLogger("srlm.retries")


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
        from tqdm.auto import tqdm

        self._retries = 0
        bar = tqdm(
            total=len(todo), desc=f"head to head ({self.model})", unit="verdict", leave=False
        )
        with bar, ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(todo))) as pool:
            futures = {pool.submit(self._ask, prompt): key for key, prompt in todo.items()}
            try:
                for future in as_completed(futures):
                    completion = future.result()
                    bar.update(1)
                    bar.set_postfix(retries=self._retries, refresh=False)
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
                self._retries = getattr(self, "_retries", 0) + 1
                retries_log.info(
                    "%s: %s, retry %d/%d in %.1fs",
                    self.model,
                    e.describe(),
                    attempt + 1,
                    self.max_retries,
                    delay,
                )
                time.sleep(delay)
        return None  # unreachable: the loop returns or raises
