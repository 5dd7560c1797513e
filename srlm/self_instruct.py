"""Self-instruction: new prompts from 8-shot Self-Instruct prompting (paper §2.2, §3.1.3).

Follows Self-Instruct (Wang et al. 2023, arXiv 2212.10560), reference code
``yizhongw/self-instruct self_instruct/bootstrap_instructions.py`` at commit
``10dd06e1156c693482f9ab752ed6f3d3b0bf23cb`` (``encode_prompt``, ``post_process_gpt3_response`` and
the ROUGE-L loop in ``__main__``). Only pure functions live here; the model call is injected as
``generate(prompts) -> continuations`` and the caller samples (paper: T = 0.6, top-p = 0.9, stop at
:func:`stop_sequences`).

**Template.** The numbered form (``Come up with a series of tasks:\\n1. …\\n8. …\\n9.``) of
upstream ``encode_prompt(..., classification=False)`` is used, not the ``Task 1:`` form printed in
the Self-Instruct paper: the Self-Rewarding paper does not say which one it used, and the
numbered one is what the released code sends, so it is the one whose continuations the
post-processing below was written for.

**Demonstrations.** 6 random seed instructions + 2 random previously generated ones (upstream
samples 2 machine + 6 human, then shuffles). Until 2 generated ones exist all 8 come from the
seed (upstream would already use 1 machine + 7 seed with a single generated one).

**Filters** (upstream order; the first that fires names the rejection):

- ``too_short`` / ``too_long``: ``<= 3`` or ``> 150`` whitespace-separated words;
- ``keyword``: any of :data:`KEYWORD_BLACKLIST` as a whole word, case-insensitive (tasks a text-only
  model cannot do);
- ``program``: starts with "Write a program" (upstream compares after ``str.capitalize()``, which is
  the same as a case-insensitive prefix test);
- ``punctuation``: first character in ``string.punctuation``;
- ``non_ascii``: first character is not ASCII;
- ``duplicate``: same text as a seed, existing or accepted instruction after whitespace/case
  normalisation (not upstream, where ROUGE-L = 1 catches it; counted apart to see it);
- ``rouge``: ROUGE-L F-measure ``> 0.7`` against any seed, existing or accepted instruction
  (``rouge_score`` tokenizer without stemming and its LCS, as upstream);
- ``cut_off``: a continuation that stopped at the token limit (``finish_reason == "length"``,
  see ``srlm.generation.base.Completion``), discarded whole with every task in it, as upstream
  does (``post_process_gpt3_response`` returns nothing for it): its last task may be cut
  mid-sentence, and the sampler did not reach a stop string;
- ``unparseable``: a continuation that yields no candidate at all (empty, or ``None``).

**Deliberate deviation.** Upstream applies ``str.capitalize()`` to each instruction, which also
lower-cases everything after the first letter ("TCP" -> "tcp"); here only the first character is
upper-cased, so acronyms, code and names survive into the prompts the policy answers.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence

from rouge_score import tokenize as rouge_tokenize
from tqdm.auto import tqdm

from srlm.generation.base import cut_off

# Verbatim from upstream post_process_gpt3_response.
KEYWORD_BLACKLIST: tuple[str, ...] = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
)
MIN_WORDS_EXCLUSIVE = 3  # upstream: len(inst.split()) <= 3 -> drop
MAX_WORDS = 150  # upstream: len(inst.split()) > 150 -> drop
REJECT_REASONS: tuple[str, ...] = (
    "cut_off",
    "unparseable",
    "too_short",
    "too_long",
    "keyword",
    "program",
    "punctuation",
    "non_ascii",
    "duplicate",
    "rouge",
)

# Upstream find_word_in_string is r"\b({w})\b" per word, IGNORECASE; one alternation is equivalent.
_KEYWORD_RE = re.compile(r"\b(" + "|".join(KEYWORD_BLACKLIST) + r")\b", flags=re.IGNORECASE)
# Upstream: re.split(r"\n\d+\s?\. ", text): the model keeps numbering "10. ", "11. ", ...
_ITEM_SPLIT_RE = re.compile(r"\n\d+\s?\. ")
_WS_RE = re.compile(r"\s+")

Generate = Callable[[list[str]], Sequence[str | None]]


def encode_prompt(instructions: Sequence[str]) -> str:
    """Upstream ``encode_prompt(..., classification=False)``, character for character.

    Each demonstration is flattened to one line (whitespace runs -> one space) and loses a trailing
    colon, so the numbering the model continues stays unambiguous.
    """
    prompt = "Come up with a series of tasks:\n"
    for idx, instruction in enumerate(instructions):
        instruction = _WS_RE.sub(" ", instruction).strip().rstrip(":")
        prompt += f"{idx + 1}. {instruction}\n"
    prompt += f"{len(instructions) + 1}."
    return prompt


def stop_sequences(num_shots: int = 8) -> tuple[str, ...]:
    """Stop strings for the sampler: upstream's ``["\\n\\n", "\\n16", "16.", "16 ."]`` for 8 shots.

    Upstream hard-codes 16 with its default of 8 demonstrations (so at most 7 new tasks per call);
    other shot counts use ``2 * num_shots`` by the same ratio (our generalisation).
    """
    n = 2 * num_shots
    return ("\n\n", f"\n{n}", f"{n}.", f"{n} .")


def parse_continuation(text: str | None, num_shots: int = 8) -> list[str]:
    """Candidate instructions in the model's continuation of ``encode_prompt`` (after ``N+1.``).

    Cuts at the first :func:`stop_sequences` string (a no-op when the sampler already stopped
    there), splits on upstream's item pattern, flattens whitespace, strips, upper-cases the first
    character and drops empties. Filtering is :func:`filter_reason`'s job.
    """
    if not text:
        return []
    cut = len(text)
    for stop in stop_sequences(num_shots):
        pos = text.find(stop)
        if pos != -1:
            cut = min(cut, pos)
    items = []
    for raw in _ITEM_SPLIT_RE.split(text[:cut]):
        inst = _WS_RE.sub(" ", raw).strip()
        if inst:
            items.append(inst[0].upper() + inst[1:])
    return items


def filter_reason(instruction: str) -> str | None:
    """Name of the first upstream filter that rejects ``instruction``, or None if it passes."""
    inst = _WS_RE.sub(" ", instruction).strip()
    n_words = len(inst.split())
    if n_words <= MIN_WORDS_EXCLUSIVE:
        return "too_short"
    if n_words > MAX_WORDS:
        return "too_long"
    if _KEYWORD_RE.search(inst):
        return "keyword"
    if inst.lower().startswith("write a program"):
        return "program"
    if inst[0] in string.punctuation:
        return "punctuation"
    if not inst[0].isascii():
        return "non_ascii"
    return None


def normalize(text: str) -> str:
    """Key for exact deduplication: whitespace runs collapsed, case folded."""
    return _WS_RE.sub(" ", text).strip().casefold()


def prompt_id(text: str) -> str:
    """Stable id of a prompt: first 12 hex digits of the SHA-1 of its UTF-8 text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


class RougeFilter:
    """ROUGE-L near-duplicate filter over a growing pool of instructions (upstream threshold 0.7).

    Same score as upstream's ``RougeScorer(["rougeL"], use_stemmer=False).score(new, old)``, but
    tokens of the pool are computed once, and an inverted index bounds each LCS by the multiset
    token overlap (F = 2 * LCS / (len_a + len_b) <= 2 * overlap / (len_a + len_b)), so the exact,
    quadratic LCS runs only for pool members that could pass the threshold. Upstream's full scan
    (a process pool per candidate) is what makes self-instruct dedup slow.
    """

    def __init__(self, instructions: Iterable[str] = (), threshold: float = 0.7) -> None:
        # Imported here: rouge_scorer pulls in nltk (~1 s), which only this class needs.
        from rouge_score.rouge_scorer import _score_lcs

        self._score_lcs = _score_lcs
        self.threshold = threshold
        self._tokens: list[list[str]] = []
        self._postings: dict[str, list[tuple[int, int]]] = {}  # token -> [(pool index, count)]
        for instruction in instructions:
            self.add(instruction)

    def __len__(self) -> int:
        return len(self._tokens)

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """``rouge_score``'s default tokenizer without stemming (lower-case alphanumeric runs)."""
        return rouge_tokenize.tokenize(text, None)

    def add(self, instruction: str) -> None:
        """Put ``instruction`` into the pool later candidates are compared with."""
        tokens = self.tokenize(instruction)
        idx = len(self._tokens)
        self._tokens.append(tokens)
        for tok, count in Counter(tokens).items():
            self._postings.setdefault(tok, []).append((idx, count))

    def _near(self, tokens: list[str]) -> Iterator[list[str]]:
        """Token lists of pool members whose overlap bound reaches the threshold."""
        overlap: dict[int, int] = {}
        for tok, count in Counter(tokens).items():
            for idx, pool_count in self._postings.get(tok, ()):
                overlap[idx] = overlap.get(idx, 0) + (count if count < pool_count else pool_count)
        n = len(tokens)
        # Margin so float rounding in the bound never skips a pair whose exact F is above it.
        bound_floor = self.threshold - 1e-9
        for idx, shared in overlap.items():
            other = self._tokens[idx]
            if 2 * shared / (n + len(other)) >= bound_floor:
                yield other

    def max_score(self, instruction: str) -> float:
        """Highest ROUGE-L F against the pool, exact only where it can exceed the threshold.

        Pool members whose overlap bound is below the threshold are skipped, so a result at or
        below the threshold means "no member above it", not the true maximum.
        """
        tokens = self.tokenize(instruction)
        if not tokens:
            return 0.0
        return max(
            (self._score_lcs(tokens, other).fmeasure for other in self._near(tokens)), default=0.0
        )

    def too_similar(self, instruction: str) -> bool:
        """True when ROUGE-L F with some pool member is above the threshold (upstream ``> 0.7``)."""
        tokens = self.tokenize(instruction)
        if not tokens:
            return False
        return any(
            self._score_lcs(tokens, other).fmeasure > self.threshold for other in self._near(tokens)
        )


def _sample_demonstrations(
    rng: random.Random,
    seed: Sequence[str],
    generated: Sequence[str],
    num_seed_shots: int,
    num_generated_shots: int,
) -> list[str]:
    """6 seed + 2 generated demonstrations in random order (all seed until 2 generated exist)."""
    if num_generated_shots > 0 and len(generated) >= num_generated_shots:
        demos = rng.sample(generated, num_generated_shots)
        demos += rng.sample(seed, min(num_seed_shots, len(seed)))
    else:
        demos = rng.sample(seed, min(num_seed_shots + num_generated_shots, len(seed)))
    rng.shuffle(demos)
    return demos


def generate_prompts(
    generate: Generate,
    seed_instructions: Sequence[str],
    target: int,
    *,
    rng: random.Random,
    num_seed_shots: int = 6,
    num_generated_shots: int = 2,
    batch_size: int = 16,
    max_rounds: int = 50,
    rouge_threshold: float = 0.7,
    existing: Iterable[str] = (),
) -> tuple[list[dict], dict]:
    """Self-Instruct loop: prompt ``generate`` in batches until ``target`` new prompts pass.

    Each round builds ``batch_size`` few-shot prompts and makes one ``generate`` call that must
    return one continuation per prompt (``None`` = discard; a ``Completion`` whose
    ``finish_reason`` is "length" is discarded whole and counted as ``cut_off``). Candidates
    are filtered, exact-deduplicated and ROUGE-filtered against seed + ``existing`` + accepted, in
    order; the run stops at ``target`` accepted (later candidates are not examined) or after
    ``max_rounds`` rounds. ``existing`` (prompts kept from earlier runs) also serves as
    "previously generated" demonstrations; ``target`` counts new prompts only.

    Returns ``(records, stats)``: records ``{"id", "prompt", "round"}`` (rounds count from 1), and
    stats ``{"generated", "accepted", "rejected": {reason: n}, "rounds", "continuations"}`` with
    ``generated`` = examined candidates + cut-off and unparseable continuations = accepted +
    sum(rejected).
    Deterministic given ``rng``'s state and a deterministic ``generate``.
    """
    seed = list(seed_instructions)
    if not seed:
        raise ValueError("generate_prompts needs at least one seed instruction")
    existing = list(existing)
    pool: list[str] = list(existing)  # "previously generated" demonstrations
    rouge = RougeFilter([*seed, *existing], threshold=rouge_threshold)
    seen = {normalize(text) for text in (*seed, *existing)}
    records: list[dict] = []
    stats: dict = {
        "generated": 0,
        "accepted": 0,
        "rejected": dict.fromkeys(REJECT_REASONS, 0),
        "rounds": 0,
        "continuations": 0,
    }
    rejected = stats["rejected"]

    with tqdm(total=max(target, 0), desc="self-instruct", disable=None, leave=False) as bar:
        for round_idx in range(1, max_rounds + 1):
            if len(records) >= target:
                break
            shots = [
                _sample_demonstrations(rng, seed, pool, num_seed_shots, num_generated_shots)
                for _ in range(batch_size)
            ]
            outputs = list(generate([encode_prompt(demos) for demos in shots]))
            if len(outputs) != len(shots):
                raise ValueError(f"generate returned {len(outputs)} continuations for {len(shots)}")
            stats["rounds"] = round_idx
            stats["continuations"] += len(outputs)

            for demos, output in zip(shots, outputs):
                if len(records) >= target:
                    break
                if cut_off(output):  # upstream: finish_reason == "length" -> discarded whole
                    stats["generated"] += 1
                    rejected["cut_off"] += 1
                    continue
                candidates = parse_continuation(output, len(demos))
                if not candidates:
                    stats["generated"] += 1
                    rejected["unparseable"] += 1
                    continue
                for cand in candidates:
                    if len(records) >= target:
                        break
                    stats["generated"] += 1
                    reason = filter_reason(cand)
                    key = normalize(cand)
                    if reason is None and key in seen:
                        reason = "duplicate"
                    if reason is None and rouge.too_similar(cand):
                        reason = "rouge"
                    if reason is not None:
                        rejected[reason] += 1
                        continue
                    seen.add(key)
                    rouge.add(cand)
                    pool.append(cand)
                    records.append({"id": prompt_id(cand), "prompt": cand, "round": round_idx})
                    bar.update(1)
    stats["accepted"] = len(records)
    return records, stats
