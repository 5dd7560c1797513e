"""srlm's SLURM launcher where Hydra looks for launchers (the ``hydra_plugins`` package only).

``hydra/launcher=slurm`` and ``slurm_local`` name ``hydra_plugins.srlm_launcher.SlurmLauncher``;
the code is in ``srlm/slurm.py``.
"""

from srlm.slurm import SlurmLauncher as _SlurmLauncher


class SlurmLauncher(_SlurmLauncher):
    """``srlm.slurm.SlurmLauncher``, registered as a Hydra plugin."""
