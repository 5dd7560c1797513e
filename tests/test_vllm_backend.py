"""The vLLM backend: its contract with a fake ``vllm`` here, and with the real one on a GPU.

The project's own venv has no vLLM, so these tests put a fake module in ``sys.modules``: they
check what ``srlm.generation.vllm`` asks of vLLM on each platform and how it maps the answers
back (n per prompt, prompt order, seeds, stop strings, close). The real engine runs in
tests/test_vllm_engine.py (CPU, ``.venv-vllm``) and in the ``gpu`` test below.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import types
from dataclasses import dataclass, field

import pytest

from srlm.generation.base import Sampling, apply_stop
from srlm.generation.vllm import VLLMGenerator, load

# --- a fake vllm: records what it is asked, answers deterministically -------------------------


@dataclass
class FakeCompletion:
    text: str
    token_ids: list[int] = field(default_factory=lambda: [1, 2, 3])


@dataclass
class FakeRequestOutput:
    prompt: str
    outputs: list[FakeCompletion]


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.n = kwargs["n"]
        self.seed = kwargs["seed"]


class FakeEngineCore:
    def __init__(self):
        self.shut_down = False

    def shutdown(self):
        self.shut_down = True


class FakeLLM:
    instances: list[FakeLLM] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls: list[tuple] = []
        self.llm_engine = types.SimpleNamespace(engine_core=FakeEngineCore())
        FakeLLM.instances.append(self)

    def generate(self, prompts, params, use_tqdm=True):
        self.calls.append((list(prompts), params, use_tqdm))
        return [
            FakeRequestOutput(p, [FakeCompletion(f"{p}|{j}|{sp.seed}") for j in range(sp.n)])
            for p, sp in zip(prompts, params)
        ]


class FakePlatform:
    cpu = False

    def is_cpu(self) -> bool:
        return self.cpu


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = FakeSamplingParams
    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = FakePlatform()
    module.platforms = platforms
    FakeLLM.instances = []
    monkeypatch.setitem(sys.modules, "vllm", module)
    # set even where the real vllm is installed and imported (.venv-vllm): the fake answers
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)
    return module


# --- CPU tests ----------------------------------------------------------------------------------


def test_missing_vllm_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(ImportError, match=r"pip install -e '\.\[vllm\]'"):
        load("any/model")


def test_module_import_does_not_import_vllm() -> None:
    """The HF-only CPU install imports the backend registry without vllm (lazy import)."""
    code = "import sys, srlm.generation.vllm; assert 'vllm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_load_passes_engine_settings(fake_vllm, tmp_path) -> None:
    # The model says 1024 positions: a longer max_model_len is capped (vLLM would refuse it).
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "llama", "max_position_embeddings": 1024, "dtype": "float32"})
    )
    gen = load(tmp_path, tensor_parallel_size=2, gpu_memory_utilization=0.5, seed=7)
    assert isinstance(gen, VLLMGenerator)
    kwargs = FakeLLM.instances[-1].kwargs
    assert kwargs == {
        "model": str(tmp_path),
        "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.5,
        "max_model_len": 1024,
        "enable_prefix_caching": True,
        "dtype": "float32",  # the checkpoint's own: vLLM's "auto" would load it as bf16/fp16
        "seed": 7,
    }
    load(tmp_path, max_model_len=512)
    assert FakeLLM.instances[-1].kwargs["max_model_len"] == 512


def test_dtype_is_the_checkpoints_unless_set(fake_vllm, tmp_path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16"}))  # transformers 4
    for dtype, expected in ((None, "bfloat16"), ("auto", "bfloat16"), ("float32", "float32")):
        load(tmp_path, dtype=dtype)
        assert FakeLLM.instances[-1].kwargs["dtype"] == expected
    load(tmp_path / "no-such-checkpoint")  # nothing to read: vLLM decides, and the log says so
    assert FakeLLM.instances[-1].kwargs["dtype"] == "auto"


def test_cpu_engine_settings(fake_vllm, tmp_path) -> None:
    """On CPU: KV cache in GiB, no RAM fraction, prompts prefilled whole (seeded sampling)."""
    fake_vllm.platforms.current_platform.cpu = True
    (tmp_path / "config.json").write_text(json.dumps({"dtype": "float32"}))
    load(tmp_path, cpu_kvcache_gib=0.5, gpu_memory_utilization=0.85)
    kwargs = FakeLLM.instances[-1].kwargs
    assert "gpu_memory_utilization" not in kwargs  # a fraction of RAM there: 0.85 is refused
    assert kwargs["kv_cache_memory_bytes"] == 512 * 2**20
    assert kwargs["enable_chunked_prefill"] is False
    assert kwargs["enforce_eager"] is True
    assert kwargs["dtype"] == "float32"
    # engine_args pass through last, over the CPU defaults too
    load(tmp_path, engine_args={"enforce_eager": False, "max_num_seqs": 8})
    kwargs = FakeLLM.instances[-1].kwargs
    assert kwargs["enforce_eager"] is False and kwargs["max_num_seqs"] == 8


def test_engine_args_from_config(fake_vllm, tmp_path) -> None:
    """Hydra hands engine_args as a DictConfig: vLLM gets plain values, nested ones too."""
    from omegaconf import OmegaConf

    args = OmegaConf.create({"compilation_config": {"mode": 0}, "block_size": 32})
    load(tmp_path, engine_args=args)
    kwargs = FakeLLM.instances[-1].kwargs
    assert (
        kwargs["compilation_config"] == {"mode": 0} and type(kwargs["compilation_config"]) is dict
    )
    assert kwargs["block_size"] == 32 and "gpu_memory_utilization" in kwargs  # not on CPU here
    for key in ("model", "dtype", "seed"):  # the backend's own keys are set once, by name
        with pytest.raises(ValueError, match=key):
            load(tmp_path, engine_args={key: "x"})


def test_generate_n_per_prompt_in_order(fake_vllm) -> None:
    gen = load("m")
    prompts = ["a", "b", "c"]
    s = Sampling(n=2, temperature=0.8, top_p=0.95, max_new_tokens=33, seed=10, stop=("\n\n", "###"))
    out = gen.generate(prompts, s)
    assert out == [[f"{p}|0|{10 + 2 * i}", f"{p}|1|{10 + 2 * i}"] for i, p in enumerate(prompts)]
    sent_prompts, params, use_tqdm = FakeLLM.instances[-1].calls[-1]
    assert sent_prompts == prompts and use_tqdm is True
    assert [sp.kwargs for sp in params] == [
        {
            "n": 2,
            "temperature": 0.8,
            "top_p": 0.95,
            "max_tokens": 33,
            "seed": 10 + 2 * i,  # distinct per prompt; vLLM adds the sample index for n > 1
            "stop": ["\n\n", "###"],
        }
        for i in range(3)
    ]
    assert gen.tokens_generated == 3 * 2 * 3


def test_greedy_samples_once_and_repeats(fake_vllm) -> None:
    gen = load("m")
    out = gen.generate(["x", "y"], Sampling(n=3, temperature=0.0, seed=0))
    assert out == [["x|0|0"] * 3, ["y|0|1"] * 3]
    _, params, _ = FakeLLM.instances[-1].calls[-1]
    assert all(sp.kwargs["n"] == 1 and sp.kwargs["top_p"] == 1.0 for sp in params)


def test_empty_prompts_and_close(fake_vllm) -> None:
    gen = load("m")
    llm = FakeLLM.instances[-1]
    assert gen.generate([], Sampling()) == []
    assert llm.calls == []
    gen.close()
    assert llm.llm_engine.engine_core.shut_down
    assert gen.llm is None
    gen.close()  # idempotent
    with pytest.raises(RuntimeError, match="after close"):
        gen.generate(["a"], Sampling())


# --- GPU test: the real engine ------------------------------------------------------------------


def _vllm_ready() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


@pytest.mark.gpu
@pytest.mark.skipif(not _vllm_ready(), reason="needs CUDA and vllm (pip install -e '.[vllm]')")
def test_real_vllm_on_tiny_model(tmp_path) -> None:
    from srlm.models.loading import chat_prompt, load_tokenizer
    from srlm.models.tiny import build_tiny_model

    model = build_tiny_model(tmp_path / "m0", corpus_documents=2000, pretrain_steps=100)
    tok = load_tokenizer(model)
    prompts = [chat_prompt(tok, q) for q in ("Name a colour.", "What is 2 plus 3?", "Say hi.")]
    gen = load(model, gpu_memory_utilization=0.3, max_model_len=512)
    try:
        # n samples per prompt, reproducible for a seed
        s = Sampling(n=4, temperature=1.0, top_p=1.0, max_new_tokens=16, seed=3)
        out = gen.generate(prompts, s)
        assert [len(o) for o in out] == [4, 4, 4]
        assert all(isinstance(t, str) for o in out for t in o)
        assert gen.generate(prompts, s) == out

        # prompt order: greedy outputs follow their prompts
        greedy = Sampling(n=1, temperature=0.0, max_new_tokens=24)
        forward = gen.generate(prompts, greedy)
        backward = gen.generate(prompts[::-1], greedy)
        assert backward[::-1] == forward

        # stop strings: cut where the stop string first appears, the stop string excluded
        text = max((o[0] for o in forward), key=len)
        if len(text) < 6:
            pytest.skip(f"the tiny model's greedy text is too short to cut: {text!r}")
        stop = text[3:6]
        prompt = prompts[[o[0] for o in forward].index(text)]
        cut = gen.generate(
            [prompt], Sampling(n=1, temperature=0.0, max_new_tokens=24, stop=(stop,))
        )
        assert cut == [[apply_stop(text, (stop,))]]
        assert stop not in cut[0][0]
    finally:
        gen.close()

    # after close() the GPU takes the next model (the loop loads M_t, then M_{t+1})
    again = load(model, gpu_memory_utilization=0.3, max_model_len=512)
    try:
        assert again.generate(prompts[:1], greedy) == forward[:1]
    finally:
        again.close()
