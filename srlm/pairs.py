"""From scored candidates to training data: pure functions, no paths, no models.

``best_worst`` is the paper's AIFT rule (§3.2): chosen = highest mean score, rejected = lowest,
the prompt dropped when they are equal. Unscored candidates (every judge sample unparseable)
take part in neither side: a judge failure must never become the rejected answer (docs/peers.md).
``random_pairs`` is the same-steps control: as many pairs, drawn at random. ``top_only`` is the
positive-examples-only ablation (A.4): SFT data from the top responses, which ``mix_with_seed``
adds back into the seed IFT data with a mixing weight, as the paper did.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    text: str
    score: float | None
    id: str = ""


@dataclass(frozen=True)
class ScoredPrompt:
    prompt_id: str
    prompt: str
    candidates: tuple[Candidate, ...]


def _pick(cands: list[Candidate], tie_break: str, rng: random.Random) -> Candidate:
    if tie_break == "first":
        return cands[0]
    if tie_break == "random":
        return rng.choice(cands)
    raise ValueError(f"pairs.tie_break must be 'first' or 'random', got {tie_break!r}")


def best_worst(
    groups: list[ScoredPrompt], *, tie_break: str = "first", seed: int = 0, min_margin: float = 0.0
) -> tuple[list[dict], dict]:
    """One (chosen, rejected) pair per prompt whose best and worst scores differ.

    ``tie_break`` picks among candidates sharing the max (or min) score: "first" (the earliest
    sample) or "random" (seeded). ``min_margin`` drops pairs whose score gap is not above it.
    """
    rng = random.Random(seed)
    pairs, stats = [], {"prompts": len(groups), "ties": 0, "too_few_scored": 0, "identical": 0}
    for g in groups:
        scored = [c for c in g.candidates if c.score is not None]
        if len(scored) < 2:
            stats["too_few_scored"] += 1
            continue
        hi = max(c.score for c in scored)
        lo = min(c.score for c in scored)
        if hi - lo <= min_margin:
            stats["ties"] += 1
            continue
        chosen = _pick([c for c in scored if c.score == hi], tie_break, rng)
        rejected = _pick([c for c in scored if c.score == lo], tie_break, rng)
        if chosen.text == rejected.text:  # same text, different scores: no preference to learn
            stats["identical"] += 1
            continue
        pairs.append(_pair(g, chosen, rejected))
    return pairs, stats


def _pair(g: ScoredPrompt, chosen: Candidate, rejected: Candidate) -> dict:
    return {
        "prompt_id": g.prompt_id,
        "prompt": g.prompt,
        "chosen": chosen.text,
        "rejected": rejected.text,
        "chosen_score": chosen.score,
        "rejected_score": rejected.score,
        "chosen_id": chosen.id,
        "rejected_id": rejected.id,
    }


def random_pairs(
    groups: list[ScoredPrompt], *, tie_break: str = "first", seed: int = 0, min_margin: float = 0.0
) -> tuple[list[dict], dict]:
    """The same-steps control: as many pairs as ``best_worst`` makes, from the same prompts, but
    chosen and rejected are two different scored candidates drawn at random, in random order.

    DPO then takes the same number of pairs and steps on the same candidates with no judge
    signal, so a gain of the self-judged run over this one comes from the judge's preferences,
    not from more training (docs/tiny_world.md). The scores are kept for telemetry only.
    """
    rng = random.Random(seed)
    judged, stats = best_worst(groups, tie_break=tie_break, seed=seed, min_margin=min_margin)
    by_prompt = {g.prompt_id: g for g in groups}
    pairs = []
    for row in judged:
        g = by_prompt[row["prompt_id"]]
        scored = [c for c in g.candidates if c.score is not None]
        chosen = rng.choice(scored)
        rejected = rng.choice([c for c in scored if c.text != chosen.text])
        pairs.append(_pair(g, chosen, rejected))
    return pairs, stats


def top_only(
    groups: list[ScoredPrompt], *, min_score: float = 5.0, per_prompt: int = 1, **_: object
) -> tuple[list[dict], dict]:
    """SFT examples from responses scoring at least ``min_score`` (paper: 5 only)."""
    examples, stats = [], {"prompts": len(groups), "no_top": 0}
    for g in groups:
        top = [c for c in g.candidates if c.score is not None and c.score >= min_score]
        if not top:
            stats["no_top"] += 1
            continue
        top.sort(key=lambda c: -c.score)  # stable: the earliest sample first among equals
        for c in top[:per_prompt]:
            examples.append(
                {
                    "prompt_id": g.prompt_id,
                    "prompt": g.prompt,
                    "response": c.text,
                    "score": c.score,
                    "id": c.id,
                }
            )
    return examples, stats


def mix_with_seed(
    selected: list[dict], seed_examples: list[dict], weight: float = 1.0, seed: int = 0
) -> list[dict]:
    """The top-only ablation's SFT data: the seed examples plus the selected responses (A.4).

    The paper adds its 11,254 self-generated responses scored 5 back into the SFT data "with a
    tuned mixing weight" and does not give the weight or how it was applied. Here ``weight`` is
    how many times each selected response counts relative to one seed example, applied by
    repetition: 2.0 = each twice, 1.0 = a plain union, 0.5 = a seeded half of them (the
    fractional part is a seeded sample without replacement), 0 = none (the seed data alone).
    Rows are ``{prompt, response}`` dicts; the result is the seed examples, then the selected
    copies, unshuffled (the trainer shuffles).
    """
    if weight < 0:
        raise ValueError(f"pairs.mix.weight must be >= 0, got {weight}")
    whole, fraction = int(weight), weight - int(weight)
    extra = sorted(
        random.Random(seed).sample(range(len(selected)), round(fraction * len(selected)))
    )
    picked = [r for _ in range(whole) for r in selected] + [selected[i] for i in extra]
    return list(seed_examples) + picked
