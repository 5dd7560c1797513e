"""srlm entry point: `python run.py [group=option ...]`, `python run.py -m judge=a,b pairs=x,y`."""

import logging
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import srlm.config  # noqa: F401  (registers the typed schema)

USER_ERRORS = (ValueError, FileNotFoundError, KeyError)


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from srlm.pipeline import run_job

    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        run_job(cfg)
    except Exception as e:
        if os.environ.get("SRLM_DEBUG") or not (multirun or isinstance(e, USER_ERRORS)):
            raise
        # One clear line on the console; the traceback goes to the run's run.log. In a sweep the
        # other jobs go on.
        logging.getLogger("srlm").error("job failed: %s", e, exc_info=True)
        print(f"srlm: error: {e} (SRLM_DEBUG=1 shows the traceback)", file=sys.stderr)
        if not multirun:
            sys.exit(2)


if __name__ == "__main__":
    main()
