"""srlm entry point: `python run.py [group=option ...]`, `python run.py -m judge=a,b pairs=x,y`."""

import logging
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import srlm.config  # noqa: F401  (registers the typed schema)
from srlm.errors import one_line


def build_components(cfg: DictConfig):
    """The config's components, built by Hydra here so that srlm's own code never imports it.

    In a dry run an evaluator that cannot be built here (no API key) is left out of the plan,
    with a warning: the plan of everything else is still worth reading."""
    from hydra.utils import instantiate

    from srlm.eval.evaluators import NoEvaluator
    from srlm.runner import Components

    try:
        evaluator = instantiate(cfg.evaluator)
    except Exception as e:
        if not cfg.dry_run:
            raise
        print(f"srlm: warning: no head to head in this plan: {one_line(e)}", file=sys.stderr)
        evaluator = NoEvaluator()
    return Components(
        judge=instantiate(cfg.judge),
        select=instantiate(cfg.pairs.select),
        evaluator=evaluator,
        load_generator=instantiate(cfg.generation.backend),
    )


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from srlm.pipeline import plain, run_job
    from srlm.validate import check, check_environment

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        config = plain(cfg)
        check(config)  # before anything is built or run: one line naming the key
        try:
            check_environment(config)
        except ValueError as e:
            if not config["dry_run"]:
                raise
            print(f"srlm: warning: a real run would stop here: {e}", file=sys.stderr)
        choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
        run_job(cfg, build_components(cfg), list(hc.overrides.task), choices)
    except Exception as e:
        if os.environ.get("SRLM_DEBUG"):
            raise
        # One line on the console, naming the file, row, key or endpoint; the traceback goes to
        # the run's run.log. In a sweep the other jobs go on, and the sweep lists the failed ones
        # and exits 1 (srlm/sweep.py).
        if any(getattr(h, "_srlm", False) for h in logging.getLogger().handlers):
            logging.getLogger("srlm.traceback").error("job failed: %s", e, exc_info=True)
        print(f"srlm: error: {one_line(e)} (SRLM_DEBUG=1 shows the traceback)", file=sys.stderr)
        if multirun:
            raise
        sys.exit(2)


def _quiet_dry_run(argv: list[str]) -> list[str]:
    """``dry_run=true`` writes nothing: not even Hydra's own output folder and log."""
    if not any(a.lower() in ("dry_run=true", "+dry_run=true") for a in argv):
        return argv
    quiet = ["hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra.run.dir=."]
    return [*argv, *quiet, "hydra/hydra_logging=disabled"]


def _precheck(argv: list[str]) -> None:
    """What fails inside Hydra before srlm runs, said in one line: a misspelt key of a typed
    section (with the nearest real key), and a ``paths.root`` that cannot be written."""
    import dataclasses
    import difflib
    from pathlib import Path

    from srlm.config import RootConfig

    def fail(message: str) -> None:
        print(f"srlm: error: {message}", file=sys.stderr)
        sys.exit(2)

    dry_run = any(a.lower() in ("dry_run=true", "+dry_run=true") for a in argv)
    sweep = any(a in ("-m", "--multirun") for a in argv)  # a sweep lists each job's failure
    for arg in argv[1:]:
        key, _, value = arg.partition("=")
        if not value or key.startswith(("+", "~", "hydra")) or "." not in key:
            continue
        node: object = RootConfig
        for part in key.split("."):
            if not dataclasses.is_dataclass(node):
                break  # an untyped group (judge, train, ...): Hydra checks it
            fields = {f.name: f for f in dataclasses.fields(node)}
            if part not in fields:
                near = difflib.get_close_matches(part, fields, n=1)
                hint = f" (did you mean {key.rsplit(part, 1)[0]}{near[0]}?)" if near else ""
                fail(f"{key}: no such config key{hint}")
            node = fields[part].default_factory if callable(fields[part].default_factory) else None
        if key == "paths.root" and not (dry_run or sweep):
            try:
                Path(value).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                fail(f"paths.root={value}: cannot be created ({e.strerror})")


if __name__ == "__main__":
    _precheck(sys.argv)
    sys.argv = _quiet_dry_run(sys.argv)
    main()
