"""Pairwise evaluators: the AlpacaEval prompt and verdict parser, the API judge against a fake
OpenAI-compatible server on 127.0.0.1 (retries, cache, concurrency, key hygiene), and a smoke
run of the local judge on a tiny random model."""

from __future__ import annotations

import importlib.util
import json
import logging
import pickle
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from srlm.eval.evaluators import (
    AnswerCache,
    LocalEvaluator,
    MissingAPIKeyError,
    OpenAIEvaluator,
    cache_key,
    parse_verdict,
    prompt_to_messages,
    render_for_tokenizer,
    render_pairwise_prompt,
)
from srlm.judges import load_prompt

KEY_ENV = "SRLM_TEST_OPENAI_KEY"
SECRET = "sk-test-DO-NOT-LEAK-0123456789"
HAS_OPENAI = importlib.util.find_spec("openai") is not None
CLIENTS = [
    "urllib",
    pytest.param("openai", marks=pytest.mark.skipif(not HAS_OPENAI, reason="openai not installed")),
]


# ------------------------------------------------------------------------------------------
# Fake OpenAI-compatible server
# ------------------------------------------------------------------------------------------


def better_is_marked(user_text: str) -> str:
    """The fake judge: the output containing GOOD wins (m = first, M = second)."""
    split = user_text.index('"model_identifier": "M"')
    first, second = user_text[:split], user_text[split:]
    return "m" if "GOOD" in first and "GOOD" not in second else "M"


class FakeOpenAI:
    """Chat-completions JSON on 127.0.0.1:<free port>; fails the first calls with the given
    statuses, counts requests and the most requests in flight at once."""

    def __init__(
        self,
        answer: Callable[[str], str] = better_is_marked,
        fail_first: tuple[int, ...] = (),
        delay: float = 0.0,
    ):
        self.answer, self.fail_first, self.delay = answer, list(fail_first), delay
        self.lock = threading.Lock()
        self.requests = self.in_flight = self.max_in_flight = 0
        self.auth_headers: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    n = fake.requests
                    fake.requests += 1
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.auth_headers.append(self.headers.get("Authorization", ""))
                self.counted = True
                try:
                    time.sleep(fake.delay)
                    if n < len(fake.fail_first):
                        status = fake.fail_first[n]
                        error = {"message": "simulated", "type": "server_error", "code": "sim"}
                        self._send(status, {"error": error}, {"Retry-After": "0"})
                        return
                    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
                    self._send(200, completion(body["model"], fake.answer(user)))
                finally:
                    self._done()

            def _done(self) -> None:
                """Out of flight before the answer is sent: the client may ask again at once."""
                with fake.lock:
                    if getattr(self, "counted", False):
                        fake.in_flight -= 1
                        self.counted = False

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                self._done()
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def completion(model: str, content: str) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


@pytest.fixture(autouse=True)
def _local_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 directly, never through a proxy; the test key in its own variable."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv(KEY_ENV, SECRET)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def evaluator(base_url: str, client: str = "urllib", **kwargs: object) -> OpenAIEvaluator:
    options = {"max_retries": 3, "retry_base_delay": 0.001, "timeout": 10, "max_concurrency": 4}
    options.update(kwargs)
    return OpenAIEvaluator(
        base_url=base_url, model="judge-x", api_key_env=KEY_ENV, client=client, **options
    )


def items(n: int, good_first: bool = True) -> list[tuple[str, str, str]]:
    good, bad = "a GOOD answer", "a weak answer"
    return [
        (
            f"question {i}",
            f"{good} {i}" if good_first else f"{bad} {i}",
            f"{bad} {i}" if good_first else f"{good} {i}",
        )
        for i in range(n)
    ]


# ------------------------------------------------------------------------------------------
# Prompt and parser (pure)
# ------------------------------------------------------------------------------------------


def test_prompt_is_alpaca_eval_2_clf_prompt() -> None:
    text = load_prompt("alpaca_eval_pairwise")
    assert text.startswith(
        "<|im_start|>system\nYou are a highly efficient assistant, who evaluates and selects"
    )
    assert '"model_identifier": "m",\n        "output": """{output_1}"""' in text
    assert text.endswith("): m or M.\n\n## Best Model Identifier\n<|im_end|>")
    for placeholder in ("{instruction}", "{output_1}", "{output_2}"):
        assert text.count(placeholder) == 1


def test_render_and_messages() -> None:
    prompt = render_pairwise_prompt("Say {output_1}", "first answer", "second answer")
    assert "{output_2}" not in prompt and "{instruction}" not in prompt
    assert '"instruction": """Say {output_1}""",' in prompt  # one pass: not re-substituted
    messages = prompt_to_messages(prompt)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"].startswith("You are a highly efficient assistant")
    user = messages[1]["content"]
    assert user.startswith("I require a leaderboard") and user.endswith("## Best Model Identifier")
    assert user.index("first answer") < user.index('"M"') < user.index("second answer")


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("m", "first"),
        ("M", "second"),
        ("  M\n", "second"),
        ('"m"', "first"),
        ("`M`.", "second"),
        ("M\n\nBecause it is longer.", "second"),
        ("Output (m)", "first"),
        ("The best model is M", "second"),
        ("I'm unsure: both m and M are fine", None),
        ("Model", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_verdict(text: str | None, verdict: str | None) -> None:
    assert parse_verdict(text) == verdict


# ------------------------------------------------------------------------------------------
# OpenAIEvaluator against the fake server
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
def test_verdicts_both_orders(server: FakeOpenAI, client: str) -> None:
    ev = evaluator(server.base_url, client)
    assert ev.compare(items(3, good_first=True)) == ["first"] * 3
    assert ev.compare(items(3, good_first=False)) == ["second"] * 3
    assert server.requests == 6
    assert set(server.auth_headers) == {f"Bearer {SECRET}"}


@pytest.mark.parametrize("client", CLIENTS)
def test_retries_after_500_and_429(client: str) -> None:
    with FakeOpenAI(fail_first=(500, 429)) as fake:
        ev = evaluator(fake.base_url, client, max_concurrency=1)
        assert ev.compare(items(3)) == ["first"] * 3
        assert fake.requests == 3 + 2


def test_gives_up_after_max_retries_without_leaking_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI(fail_first=(503,) * 10) as fake:
        ev = evaluator(fake.base_url, max_retries=2)
        with pytest.raises(RuntimeError, match="gave up after 3 attempts") as info:
            ev.compare(items(1))
        assert fake.requests == 3
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert SECRET not in caplog.text


def test_auth_error_stops_at_once() -> None:
    with FakeOpenAI(fail_first=(401,) * 10) as fake:
        with pytest.raises(RuntimeError, match="HTTP 401") as info:
            evaluator(fake.base_url).compare(items(1))
        assert fake.requests == 1
    assert SECRET not in str(info.value)


def test_rejected_request_is_a_failed_verdict_and_not_cached(tmp_path: Path) -> None:
    cache = tmp_path / "answers.jsonl"
    with FakeOpenAI(fail_first=(400,)) as fake:
        assert evaluator(fake.base_url).compare(items(1), cache) == [None]
        assert not cache.exists() or cache.read_text() == ""
        assert evaluator(fake.base_url).compare(items(1), cache) == ["first"]  # asked again
        assert fake.requests == 2


def test_unparseable_answer_is_none_and_cached(tmp_path: Path) -> None:
    cache = tmp_path / "answers.jsonl"
    with FakeOpenAI(answer=lambda _: "I cannot decide.") as fake:
        assert evaluator(fake.base_url).compare(items(2), cache) == [None, None]
        assert evaluator(fake.base_url).compare(items(2), cache) == [None, None]
        assert fake.requests == 2


def test_cache_resume_asks_nothing_and_holds_no_key(tmp_path: Path, server: FakeOpenAI) -> None:
    cache = tmp_path / "sub" / "answers.jsonl"
    first = evaluator(server.base_url).compare(items(5), cache)
    assert first == ["first"] * 5 and server.requests == 5
    lines = cache.read_text().splitlines()
    assert len(lines) == 5
    record = json.loads(lines[0])
    assert set(record) == {"key", "model", "completion"} and record["model"] == "judge-x"
    assert SECRET not in cache.read_text()

    again = evaluator(server.base_url).compare(items(5), cache)  # a fresh process, same cache
    assert again == first and server.requests == 5


def test_torn_last_line_is_ignored_and_cut(tmp_path: Path, server: FakeOpenAI) -> None:
    cache = tmp_path / "answers.jsonl"
    evaluator(server.base_url).compare(items(2), cache)
    with cache.open("a") as f:
        f.write('{"key": "abc", "completion": "M"')  # crash mid-write: no closing brace, no \n
    verdicts = evaluator(server.base_url).compare(items(3), cache)
    assert verdicts == ["first"] * 3 and server.requests == 3
    records = [json.loads(line) for line in cache.read_text().splitlines()]
    assert len(records) == 3 and all(r["key"] != "abc" for r in records)


def test_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    cache = tmp_path / "answers.jsonl"
    cache.write_text('{"key": "a", "completion": "m"}\nnot json\n{"key": "b", "completion": "M"}\n')
    with pytest.raises(ValueError, match=r"answers.jsonl:2: not valid JSON"):
        AnswerCache(cache).load()


def test_cache_key_depends_on_model_and_prompt() -> None:
    assert cache_key("a", "p") == cache_key("a", "p")
    assert len({cache_key("a", "p"), cache_key("b", "p"), cache_key("a", "q")}) == 3


def test_duplicate_items_are_asked_once(server: FakeOpenAI) -> None:
    pair = items(1)[0]
    assert evaluator(server.base_url).compare([pair, pair, pair]) == ["first"] * 3
    assert server.requests == 1


def test_concurrency_bound() -> None:
    with FakeOpenAI(delay=0.05) as fake:
        ev = evaluator(fake.base_url, max_concurrency=3)
        assert ev.compare(items(12)) == ["first"] * 12
        assert fake.requests == 12
        assert 1 < fake.max_in_flight <= 3


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(MissingAPIKeyError, match=KEY_ENV) as info:
        evaluator("http://127.0.0.1:9/v1")
    assert "\n" not in str(info.value)
    monkeypatch.setenv(KEY_ENV, "  ")
    with pytest.raises(MissingAPIKeyError):
        evaluator("http://127.0.0.1:9/v1")


def test_missing_openai_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # import openai -> ImportError
    with pytest.raises(ImportError, match=r"pip install -e '\.\[openai\]'"):
        evaluator("http://127.0.0.1:9/v1", client="openai")


def test_bad_client_name() -> None:
    with pytest.raises(ValueError, match="client"):
        evaluator("http://127.0.0.1:9/v1", client="curl")


def test_pickle_carries_no_key(server: FakeOpenAI) -> None:
    ev = evaluator(server.base_url)
    blob = pickle.dumps(ev)
    assert SECRET.encode() not in blob
    assert SECRET not in repr(ev)
    assert pickle.loads(blob).compare(items(1)) == ["first"]


# ------------------------------------------------------------------------------------------
# LocalEvaluator
# ------------------------------------------------------------------------------------------

MESSAGES = [
    {"role": "system", "content": "SYSTEM TEXT"},
    {"role": "user", "content": "USER TEXT"},
]


@pytest.fixture(scope="module")
def tiny_tokenizer():
    from srlm.models.tiny import train_tokenizer

    corpus = [load_prompt("alpaca_eval_pairwise")] * 5 + ["a GOOD answer", "a weak answer"]
    return train_tokenizer(corpus, vocab_size=400)


def test_render_without_chat_template_is_chatml(tiny_tokenizer) -> None:
    tok = tiny_tokenizer
    saved, tok.chat_template = tok.chat_template, None
    try:
        text = render_for_tokenizer(tok, MESSAGES)
    finally:
        tok.chat_template = saved
    assert text == (
        "<|im_start|>system\nSYSTEM TEXT\n<|im_end|>\n<|im_start|>user\nUSER TEXT\n<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_render_merges_system_when_the_template_drops_it(tiny_tokenizer) -> None:
    text = render_for_tokenizer(tiny_tokenizer, MESSAGES)  # srlm's template: user/assistant only
    assert text == "<|user|>\nSYSTEM TEXT\n\nUSER TEXT\n<|assistant|>\n"


def test_render_keeps_system_when_the_template_has_it(tiny_tokenizer) -> None:
    tok = tiny_tokenizer
    saved = tok.chat_template
    tok.chat_template = (
        "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    try:
        text = render_for_tokenizer(tok, MESSAGES)
    finally:
        tok.chat_template = saved
    assert text == "[system]SYSTEM TEXT[user]USER TEXT[assistant]"


def test_local_evaluator_smoke(tmp_path: Path, tiny_tokenizer) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tiny_tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tiny_tokenizer.pad_token_id,
        eos_token_id=tiny_tokenizer.eos_token_id,
        bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path)
    tiny_tokenizer.save_pretrained(tmp_path)

    ev = LocalEvaluator(str(tmp_path), batch_size=2, max_new_tokens=3)
    verdicts = ev.compare(items(3) + items(2, good_first=False))
    assert len(verdicts) == 5
    assert set(verdicts) <= {"first", "second", "tie", None}
    assert ev.compare([]) == []
