"""The vLLM backend (GPU machines only): n samples per request, prefix caching, tensor parallelism.

The only module that imports vllm, and only inside ``load``: the CPU install has no usable vLLM
(ENVIRONMENT.md §6), so importing this module must cost nothing there. Every judge prompt shares
the long rubric, which is what ``enable_prefix_caching`` is for.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from pathlib import Path
from typing import Any

from srlm.generation.base import Sampling

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the vllm generation backend needs vLLM, which runs on GPU machines only: "
    "pip install -e '.[vllm]' there (with torch===2.13.0 for the CUDA build; ENVIRONMENT.md §6), "
    "or use generation=hf"
)


def _import_vllm():
    try:
        import vllm
    except ImportError as e:  # also raised when sys.modules["vllm"] is None
        raise ImportError(f"vllm is not installed: {INSTALL_HINT}") from e
    return vllm


def _model_max_len(model_path: str | Path) -> int | None:
    """A local checkpoint's context length (vLLM refuses a longer max_model_len); None if unknown.

    Read from config.json, so a hub id never costs a network call here; vLLM resolves those.
    """
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return None
    try:
        value = json.loads(config.read_text()).get("max_position_embeddings")
    except (OSError, ValueError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


class VLLMGenerator:
    """``Generator`` over one ``vllm.LLM``; ``close()`` hands the GPU back for the next stage."""

    def __init__(self, llm: Any, sampling_params_cls: Any, desc: str = "generate"):
        self.llm = llm
        self._sampling_params = sampling_params_cls
        self.desc = desc
        self.tokens_generated = 0

    def _params(self, sampling: Sampling, n: int, seed: int):
        return self._sampling_params(
            n=n,
            temperature=sampling.temperature,
            top_p=sampling.top_p if not sampling.greedy else 1.0,
            max_tokens=sampling.max_new_tokens,
            seed=seed,
            stop=list(sampling.stop),
        )

    def generate(self, prompts: list[str], sampling: Sampling) -> list[list[str]]:
        """``sampling.n`` completions per prompt, in prompt order.

        Each prompt gets its own seed (``seed + i * n``; vLLM adds the sample index for n > 1), so
        samples are reproducible yet independent across prompts, as in the HF backend; one shared
        seed would give every prompt the same random stream. Greedy decoding asks vLLM for one
        sample and repeats it: n greedy samples are identical anyway.
        """
        if self.llm is None:
            raise RuntimeError("VLLMGenerator.generate after close()")
        if not prompts:
            return []
        n = 1 if sampling.greedy else sampling.n
        params = [self._params(sampling, n, sampling.seed + i * n) for i in range(len(prompts))]
        outputs = self.llm.generate(prompts, params, use_tqdm=True)
        if len(outputs) != len(prompts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        result: list[list[str]] = []
        for out in outputs:  # LLM.generate returns outputs in the order of its inputs
            texts = [c.text for c in out.outputs]
            self.tokens_generated += sum(len(c.token_ids) for c in out.outputs)
            result.append(texts * sampling.n if n == 1 and sampling.n > 1 else texts)
        return result

    def close(self) -> None:
        """Shut the engine down and free its GPU memory, as far as vLLM lets a process do that.

        The V1 engine core runs in a child process that holds the weights and KV cache: shut it
        down first, then drop the references and vLLM's distributed state, then empty the cache.
        """
        llm, self.llm = self.llm, None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            with contextlib.suppress(Exception):
                core.shutdown()
        del engine, core, llm
        with contextlib.suppress(Exception):
            from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

            cleanup_dist_env_and_memory()
        gc.collect()
        with contextlib.suppress(Exception):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def __enter__(self) -> VLLMGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load(
    model_path: str | Path,
    tensor_parallel_size: int = 1,
    gpu_memory_utilization: float = 0.85,
    max_model_len: int | None = 4096,
    enable_prefix_caching: bool = True,
    dtype: str = "auto",
    seed: int = 0,
) -> VLLMGenerator:
    """The factory ``conf/generation/vllm.yaml`` names: M_t from disk in a vLLM engine.

    ``max_model_len`` is capped at the model's ``max_position_embeddings`` (the tiny model has
    1024), since vLLM refuses a longer one; None lets vLLM take the model's own.
    """
    vllm = _import_vllm()
    if max_model_len is not None:
        limit = _model_max_len(model_path)
        if limit is not None and limit < max_model_len:
            log.info("vllm: max_model_len=%d capped at the model's %d", max_model_len, limit)
            max_model_len = limit
    llm = vllm.LLM(
        model=str(model_path),
        tensor_parallel_size=tensor_parallel_size,
        gpu_memory_utilization=gpu_memory_utilization,
        max_model_len=max_model_len,
        enable_prefix_caching=enable_prefix_caching,
        dtype=dtype,
        seed=seed,
    )
    return VLLMGenerator(llm, vllm.SamplingParams)
