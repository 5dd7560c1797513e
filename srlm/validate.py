"""Checks run right after the config is composed, before any work: one line per problem.

OmegaConf checks keys and types (``srlm.config``) but cannot say "at least 2"; a run that
would only fail (or silently do nothing) minutes later, after building M0, is refused here.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from srlm.stages.select import check_config as check_selection


class ConfigError(ValueError):
    """A config value srlm cannot run with; the message names the key."""


def _at_least(config: dict[str, Any], path: str, low: float) -> None:
    node: Any = config
    for part in path.split("."):
        node = node[part]
    if node is None or node < low:
        raise ConfigError(f"{path}={node}: must be at least {low:g}")


def check(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for the first value that cannot work."""
    loop, judge, data = config["loop"], config["judge"], config["data"]
    _at_least(config, "loop.iterations", 1)
    _at_least(config, "loop.prompts_per_iteration", 1)
    _at_least(config, "loop.chunk_size", 1)
    _at_least(config, "loop.max_new_tokens", 1)
    if config["pairs"]["train_with"] == "dpo" and loop["candidates"] < 2:
        raise ConfigError(
            f"loop.candidates={loop['candidates']}: preference pairs need at least 2 candidates"
        )
    _at_least(config, "loop.candidates", 1)
    _at_least(config, "judge.num_samples", 1)
    _at_least(config, "judge.max_new_tokens", 1)
    if judge["score_min"] >= judge["score_max"]:
        raise ConfigError(f"judge.score_min={judge['score_min']} must be below judge.score_max")
    for path in ("loop.temperature", "judge.temperature", "self_instruct.temperature"):
        _at_least(config, path, 0)
    for path in ("loop.top_p", "judge.top_p", "self_instruct.top_p"):
        top_p = _value(config, path)
        if not 0 < top_p <= 1:
            raise ConfigError(f"{path}={top_p}: must be in (0, 1]")
    processes = config["train"].get("num_processes") or 1
    for kind in ("sft", "dpo"):
        _at_least(config, f"train.{kind}.batch_size", 1)
        if _value(config, f"train.{kind}.batch_size") % processes:
            raise ConfigError(
                f"train.{kind}.batch_size={_value(config, f'train.{kind}.batch_size')} is the "
                f"global batch: it must divide among train.num_processes={processes}"
            )
        if not _value(config, f"train.{kind}.learning_rate") > 0:
            raise ConfigError(f"train.{kind}.learning_rate must be positive")
    if data["kind"] == "synthetic":
        for key in ("n_ift", "n_ranked_eval", "n_eval_prompts"):
            _at_least(config, f"data.{key}", 1)
        if data["use_eft"]:
            _at_least(config, "data.n_eft", 1)
        if data["min_len"] > data["max_len"]:
            raise ConfigError(f"data.min_len={data['min_len']} is above data.max_len")
    elif data["kind"] == "oasst":
        _local_file(data.get("source"), "data.source")
        if data.get("eval_source"):
            _local_file(data["eval_source"], "data.eval_source")
    else:
        raise ConfigError(f"data.kind={data['kind']!r}: must be synthetic or oasst")
    check_selection(config)  # eval.checkpoint_selection: a judge, checkpoints to choose from


def check_environment(config: dict[str, Any]) -> None:
    """What this machine must offer the run: its backend, the evaluator's key, a writable root.
    (A dry run reports these as warnings: its plan is still worth reading.)"""
    _backend(config["generation"]["backend"])
    _evaluator(config["evaluator"])
    _writable(Path(config["paths"]["root"]), "paths.root")


def _value(config: dict[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        node = node[part]
    return node


def _local_file(value: str | None, key: str) -> None:
    """A value that looks like a local path must exist (a hub id like org/name passes)."""
    if not value:
        raise ConfigError(f"{key} is empty: give a hub id or a local file")
    path = Path(value).expanduser()
    looks_local = value.startswith((".", "/", "~")) or path.suffix in (".jsonl", ".gz", ".parquet")
    if looks_local and not path.exists():
        raise ConfigError(f"{key}={value}: no such file")


def _backend(backend: dict[str, Any]) -> None:
    target = backend.get("_target_", "")
    if target.startswith("srlm.generation.vllm") and importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "generation=vllm but vLLM is not installed in this Python "
            "(GPU: pip install -e '.[vllm]'; CPU: ./setup.sh vllm, then .venv-vllm/bin/python)"
        )


def _evaluator(evaluator: dict[str, Any]) -> None:
    target = evaluator.get("_target_", "")
    if target.endswith("OpenAIEvaluator"):
        env = evaluator.get("api_key_env") or "OPENAI_API_KEY"
        if not os.environ.get(env, "").strip():
            raise ConfigError(
                f"evaluator=openai reads its key from ${env}, which is not set "
                "(or use evaluator=none / evaluator=oracle)"
            )
        url = str(evaluator.get("base_url", ""))
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"evaluator.base_url={url!r}: must be an http(s) URL")
    if target.endswith("LocalEvaluator"):
        _local_file(evaluator.get("model_name_or_path"), "evaluator.model_name_or_path")


def _writable(root: Path, key: str) -> None:
    """The nearest existing folder of ``root`` must be writable (nothing is created here)."""
    probe = root.resolve()
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK):
        raise ConfigError(f"{key}={root}: {probe} is not writable")


def probe_endpoint(evaluator: dict[str, Any], timeout: float = 10.0) -> None:
    """An OpenAI-compatible evaluator's endpoint answers and takes the key (before any work)."""
    import urllib.error
    import urllib.request

    if not evaluator.get("_target_", "").endswith("OpenAIEvaluator"):
        return
    url = str(evaluator["base_url"]).rstrip("/") + "/models"
    key = os.environ.get(evaluator.get("api_key_env") or "OPENAI_API_KEY", "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        urllib.request.urlopen(request, timeout=timeout).close()
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise ConfigError(f"evaluator endpoint {url} refused the key (HTTP {e.code})") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ConfigError(f"evaluator endpoint {url} is unreachable ({reason})") from None
