"""A training progress bar that says which model it trains, with its loss: one line, no dicts.

transformers' own ``ProgressCallback`` draws an unlabelled bar and prints every log dict under
it; ``labelled(trainer, desc)`` swaps it for this one.
"""

from __future__ import annotations

from tqdm.auto import tqdm
from transformers import ProgressCallback, TrainerCallback


class LabelledProgress(TrainerCallback):
    def __init__(self, desc: str):
        self.desc, self.bar = desc, None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, desc=self.desc, unit="step", leave=False)
            self.bar.update(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}", refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def labelled(trainer, desc: str | None) -> None:
    """Replace the trainer's default progress bar by a labelled one."""
    if desc:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(LabelledProgress(desc))
