"""torch CPU threads for the tiny model: 1 vs 2, alone and with a second job on the machine.

    python benchmarks/threads.py [--steps 60]

Times M0 pretraining steps of the default tiny recipe (the longest stage of the embedded
default) in a fresh process per setting; "busy" runs a second, identical process at the same
time (another job on a shared 2-core machine). Prints seconds per step and the ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

WORK = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from srlm.models.tiny import _pretrain, train_tokenizer
from srlm.data.synthetic import pretraining_corpus
from transformers import LlamaConfig, LlamaForCausalLM
docs = pretraining_corpus(1, 2000, compare_every=2)
tok = train_tokenizer(docs, 1024)
cfg = LlamaConfig(vocab_size=len(tok), hidden_size=128, intermediate_size=384,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
    max_position_embeddings=1024, tie_word_embeddings=True, pad_token_id=tok.pad_token_id)
model = LlamaForCausalLM(cfg)
steps = int(sys.argv[2])
start = time.perf_counter()
_pretrain(model, tok, docs, steps, 32, 1e-3, 0)
print(f"{(time.perf_counter() - start) / steps:.4f}")
"""


def timed(threads: int, steps: int, busy: bool) -> float:
    cmd = [sys.executable, "-c", WORK, str(threads), str(steps)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    rival = subprocess.Popen(cmd, **quiet) if busy else None
    time.sleep(0.5 if busy else 0)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if rival is not None:
        rival.wait()
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    print("setting                      s/step (M0 pretraining, tiny recipe)")
    results = {}
    for busy in (False, True):
        for threads in (1, 2):
            results[threads, busy] = timed(threads, args.steps, busy)
            what = "with a second job" if busy else "alone"
            print(f"threads={threads}, {what:<18} {results[threads, busy]:.3f}")
    for busy in (False, True):
        ratio = results[2, busy] / results[1, busy]
        print(f"{'busy' if busy else 'idle'}: threads=2 takes {ratio:.2f}x the time of threads=1")


if __name__ == "__main__":
    main()
