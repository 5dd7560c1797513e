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

USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


def build_components(cfg: DictConfig):
    """The config's components, built by Hydra here so that srlm's own code never imports it."""
    from hydra.utils import instantiate

    from srlm.runner import Components

    return Components(
        judge=instantiate(cfg.judge),
        select=instantiate(cfg.pairs.select),
        evaluator=instantiate(cfg.evaluator),
        load_generator=instantiate(cfg.generation.backend),
    )


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from srlm.pipeline import run_job

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
        run_job(cfg, build_components(cfg), list(hc.overrides.task), choices)
    except Exception as e:
        if os.environ.get("SRLM_DEBUG") or not (multirun or isinstance(e, USER_ERRORS)):
            raise
        # One clear line on the console; the traceback goes to the run's run.log. In a sweep the
        # other jobs go on, and the sweep lists the failed ones and exits 1 (srlm/sweep.py).
        logging.getLogger("srlm").error("job failed: %s", e, exc_info=True)
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


if __name__ == "__main__":
    sys.argv = _quiet_dry_run(sys.argv)
    main()
