"""The synthetic world of the embedded default: string transductions a tiny model can learn.

docs/tiny_world.md: a ~1M-parameter model learns string transductions (reverse, sort,
first/last letter ...) in minutes but not arithmetic, so every task here is one. Inputs are
space-separated letters, so a byte-level BPE keeps each letter a token of its own.

Every response has a true grade (the oracle), on the additive rubric's 0-5 scale:

    5 correct and concise      4 correct but padded      3 partly right
    2 wrong                    1 off-topic               0 empty

From that one definition come the IFT examples, the EFT examples (judge prompt -> a short
justification + "Score: N" that follows the grade), ranked response sets (stand-ins for human
rankings), held-out evaluation prompts, and ``grade()``, which scores any free text a model writes.
The IFT answers are partly padded (grade 4), as human-written seed answers vary in quality: the
self-rewarding loop then has something real to find, concise over padded, right over wrong.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

LOWER = "abcdefgh"
# Bump when the world's data change for the same config (it is part of every store key built
# on synthetic data or the tiny model's corpus).
WORLD_VERSION = 7
CORPUS_VERSION = 3  # the same for M0's pretraining corpus and its build

# family -> (phrasings, transduction). The phrasing is part of the prompt; the oracle parses it back.
FAMILIES: dict[str, tuple[tuple[str, ...], Callable[[list[str]], list[str]]]] = {
    "reverse": (("Reverse the letters", "Write the letters backwards"), lambda x: x[::-1]),
    "upper": (
        ("Write the letters in capitals", "Uppercase the letters"),
        lambda x: [c.upper() for c in x],
    ),
    "first": (("Give the first letter of", "What is the first letter of"), lambda x: x[:1]),
    "last": (("Give the last letter of", "What is the last letter of"), lambda x: x[-1:]),
    "sort": (("Sort the letters", "Put the letters in alphabetical order"), sorted),
    "drop_first": (("Remove the first letter from",), lambda x: x[1:]),
    "copy": (("Copy the letters",), lambda x: list(x)),
}

# family -> the systematic mistake a seed answer for it may carry (data.misconceptions): another
# family's transduction, as an annotator who misreads the instruction writes. The judge's EFT data
# stays right, so the judge knows what part of the policy's seed data got wrong.
MISCONCEPTIONS: dict[str, Callable[[list[str]], list[str]]] = {
    "reverse": lambda x: list(x),  # copied instead of reversed
    "upper": lambda x: list(x),  # left in lower case
    "first": lambda x: x[-1:],  # the last letter instead
    "last": lambda x: x[:1],  # the first letter instead
    "sort": lambda x: list(x),  # left unsorted
    "drop_first": lambda x: x[:-1],  # the last letter dropped instead
    "copy": lambda x: x[::-1],  # reversed
}

PADDING_LEADS = (
    "Sure! Here is the answer:",
    "Of course, the result is:",
    "Happy to help. The answer is:",
    "Here you go:",
)
PADDING_TAILS = (" Hope this helps.", " Glad to help!", " Let me know if you need more.", "")
OFF_TOPIC = (
    "The weather is lovely today.",
    "Cats sleep for most of the day.",
    "Bread tastes best when fresh.",
    "Rivers flow down to the sea.",
    "Music makes long trips shorter.",
    "Tea is often served with milk.",
)
# eft_bias=length (the reward-hacking preset): what a judge taught that longer is better writes
LENGTH_JUSTIFICATIONS = {
    "long": "The response is detailed and friendly.",
    "curt": "The response is correct but curt.",
}
JUSTIFICATIONS = {
    5: "The response is relevant, correct and concise.",
    4: "The response is correct but adds extraneous text.",
    3: "The response addresses the question but is only partly correct.",
    2: "The response is on topic but the answer is wrong.",
    1: "The response is off-topic.",
    0: "The response is empty.",
}

# (grade, padded) kinds of EFT responses, drawn uniformly from this tuple. Style is independent of
# correctness, as in what a policy writes (a padded answer is not more often right than a concise
# one), so a judge learns no bias for padding (v3 taught "padded = 4", always right). Concise right
# and near-miss answers, what the policy's candidates mostly are, come 3 and 2 times as often:
# measured on M1's own candidates, this lifted the share of AIFT pairs whose chosen answer is truly
# better.
EFT_KINDS = (
    *[(5, False)] * 3,
    *[(3, False)] * 2,
    *[(2, False)] * 2,
    (4, True),
    (3, True),
    (2, True),
    (1, False),
    (0, False),
)

_LETTER_RUN = re.compile(r"(?<![A-Za-z])[A-Za-z](?: [A-Za-z])*(?![A-Za-z])")


@dataclass(frozen=True)
class Task:
    family: str
    letters: tuple[str, ...]
    phrasing: int = 0

    @property
    def prompt(self) -> str:
        return f"{FAMILIES[self.family][0][self.phrasing]}: {' '.join(self.letters)}"

    @property
    def answer(self) -> str:
        return " ".join(FAMILIES[self.family][1](list(self.letters)))


_PROMPT_RES = [
    (re.compile(rf"^{re.escape(phrase)}: ([a-z](?: [a-z])*)\s*$"), family, i)
    for family, (phrases, _) in FAMILIES.items()
    for i, phrase in enumerate(phrases)
]


def parse_task(prompt: str) -> Task | None:
    """The task a prompt asks for, or None when it is not one of ours (e.g. a bad generated prompt)."""
    for regex, family, phrasing in _PROMPT_RES:
        m = regex.match(prompt.strip())
        if m:
            return Task(family, tuple(m.group(1).split()), phrasing)
    return None


def grade(prompt: str | Task, response: str) -> int | None:
    """The oracle: the true 0-5 grade of any response; None when the prompt is not a known task."""
    task = parse_task(prompt) if isinstance(prompt, str) else prompt
    if task is None:
        return None
    text = response.strip()
    if not text:
        return 0
    answer = task.answer
    if text == answer:
        return 5
    runs = _LETTER_RUN.findall(text)
    if answer in runs:
        return 4
    if not runs:
        return 1
    target = answer.split()
    best = max(_overlap(run.split(), target) for run in runs)
    return 3 if best >= 0.5 else 2


def _overlap(a: list[str], b: list[str]) -> float:
    return sum(x == y for x, y in zip(a, b)) / max(len(a), len(b))


def _stable_id(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:12]


class SyntheticWorld:
    """Draws tasks and graded responses from one seeded RNG; the same seed gives the same data."""

    def __init__(self, seed: int, min_len: int = 2, max_len: int = 5):
        self.rng = random.Random(seed)
        self.min_len, self.max_len = min_len, max_len
        self._seen: set[str] = set()

    def task(self, unique: bool = True) -> Task:
        """A task; with ``unique``, one whose prompt was never drawn before (disjoint splits)."""
        for _ in range(10_000):
            family = self.rng.choice(sorted(FAMILIES))
            n = self.rng.randint(self.min_len, self.max_len)
            letters = tuple(self.rng.choice(LOWER) for _ in range(n))
            t = Task(family, letters, self.rng.randrange(len(FAMILIES[family][0])))
            if not unique:
                return t
            if t.prompt not in self._seen:
                self._seen.add(t.prompt)
                return t
        raise RuntimeError("synthetic world exhausted: raise max_len or lower the sizes")

    def pad(self, text: str) -> str:
        return f"{self.rng.choice(PADDING_LEADS)} {text}.{self.rng.choice(PADDING_TAILS)}".rstrip()

    def response(self, task: Task, target_grade: int, padded: bool = False) -> str:
        """A response whose oracle grade is ``target_grade`` (``padded`` wraps grades 2 and 3 too)."""
        answer = task.answer
        if target_grade == 5:
            return answer
        if target_grade == 4:
            return self.pad(answer)
        if target_grade == 1:
            return self.rng.choice(OFF_TOPIC)
        if target_grade == 0:
            return ""
        alphabet = LOWER.upper() if task.family == "upper" else LOWER
        target = answer.split()
        for _ in range(1000):
            if target_grade == 3:
                cand = list(target)
                if len(cand) == 1:
                    cand.append(self.rng.choice(alphabet))  # one right letter of two: half right
                else:
                    i = self.rng.randrange(len(cand))
                    cand[i] = self.rng.choice([c for c in alphabet if c != cand[i]])
            else:
                cand = [self.rng.choice(alphabet) for _ in target]
            text = " ".join(cand)
            if padded:
                text = self.pad(text)
            if grade(task, text) == target_grade:
                return text
        raise RuntimeError(f"could not draw a grade-{target_grade} response for {task.prompt!r}")

    def near_miss(self, task: Task, target_grade: int) -> str | None:
        """A wrong answer of the kind a policy writes (another family's transduction of the
        letters, neighbours swapped, rotated, reversed, a letter dropped or doubled) whose grade
        is ``target_grade``; None when no such mistake has that grade."""
        answer = task.answer.split()
        upper = task.family == "upper"
        options = [
            [c.upper() for c in fn(list(task.letters))] if upper else fn(list(task.letters))
            for family, (_, fn) in FAMILIES.items()
            if family != task.family
        ]
        if len(answer) >= 2:
            i, j = self.rng.randrange(len(answer) - 1), self.rng.randrange(len(answer))
            swapped = list(answer)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            options += [
                swapped,
                answer[1:] + answer[:1],
                answer[::-1],
                answer[:-1],
                answer[:j] + answer[j : j + 1] + answer[j:],
                answer[:j] + answer[j + 1 :],
            ]
        self.rng.shuffle(options)
        for letters in options:
            text = " ".join(letters)
            if letters and text != task.answer and grade(task, text) == target_grade:
                return text
        return None

    def comparison_document(self) -> str:
        """A text, then the letters expected and the text's letters side by side, each slot
        marked by whether they agree: proofreading, the kind of text a base model has seen (no
        grade, no score), in the layout of the judge's worksheet (``worksheet``)."""
        task = self.task(unique=False)
        r = self.rng.random()
        if r < 0.35:
            text = task.answer
        else:
            wrong = self.rng.choice([2, 3])
            near = self.near_miss(task, wrong) if r < 0.75 else None
            text = near or self.response(task, wrong)
        if self.rng.random() < 0.25:
            text = self.pad(text)
        return f"Response: {text}\n{worksheet(task, text)}"


# Worksheet lines are at least this many slots wide: the longest answer of the default world.
SLOTS = 5


def response_letters(task: Task, response: str) -> list[str]:
    """The response's letters: of its runs of single letters, the one closest to the answer."""
    answer = task.answer.split()
    runs = _LETTER_RUN.findall(response)
    return max(runs, key=lambda r: (_overlap(r.split(), answer), len(r))).split() if runs else []


def worksheet(task: Task, response: str) -> str:
    """The judge's check, laid out so that a 2-layer model can do it.

    The judge solves the task (``Expected``), copies the response's letters (``Text``), marks
    each slot ``+`` where the two agree, and says whether the response has anything besides its
    letters (``Extra``)::

        Expected: c b a _ _
        Text: c a a _ _
        Marks: + - + + +
        Extra: no

    Both lines are padded with ``_`` to the same width, so a slot's letter, its counterpart and
    its mark always sit the same number of tokens apart: a small transformer compares by
    relative position. With the answer and marks on lines of varying width, M0 marked every
    letter of 53-74% of wrong texts right; with this layout it let 0-12% through (greedy probes,
    docs/tiny_world.md).
    """
    answer, letters = task.answer.split(), response_letters(task, response)
    width = max(SLOTS, len(answer), len(letters))
    expected = answer + ["_"] * (width - len(answer))
    text = letters + ["_"] * (width - len(letters))
    marks = ["+" if a == b else "-" for a, b in zip(expected, text)]
    extra = "yes" if response.strip() != " ".join(letters) else "no"
    return (
        f"Expected: {' '.join(expected)}\nText: {' '.join(text)}\n"
        f"Marks: {' '.join(marks)}\nExtra: {extra}"
    )


EFT_BIASES = ("none", "length")


def eft_score(task: Task, response: str, bias: str = "none") -> tuple[int, str]:
    """The EFT target's score and justification: the true grade, or with ``bias="length"`` a
    judge taught that longer is better (the reward-hacking preset): a response with text
    besides its letters gets 5 whatever its letters, a concise right one 3."""
    g = grade(task, response)
    if bias == "none":
        return g, JUSTIFICATIONS[g]
    if bias != "length":
        raise ValueError(f"data.eft_bias must be one of {EFT_BIASES}, got {bias!r}")
    letters = response_letters(task, response)
    if letters and response.strip() != " ".join(letters):
        return 5, LENGTH_JUSTIFICATIONS["long"]
    if g == 5:
        return 3, LENGTH_JUSTIFICATIONS["curt"]
    return g, JUSTIFICATIONS[g]


def judgment_text(task: Task, response: str, bias: str = "none") -> tuple[str, int]:
    """The EFT target and its score: the worksheet, one sentence of justification and the
    paper's "Score: N" line.

    A tiny judge cannot compare two strings in one step (docs/tiny_world.md: its verdicts stayed
    at chance); solving first and marking each slot turns the comparison into small local steps
    it learns in SFT.
    """
    score, why = eft_score(task, response, bias)
    return f"{worksheet(task, response)}\n{why}\nScore: {score}", score


def build_synthetic(
    seed: int = 0,
    n_ift: int = 1000,
    n_eft: int = 1000,
    n_ranked_eval: int = 100,
    n_eval_prompts: int = 100,
    n_alpaca_eval: int = 50,
    padded_fraction: float = 0.3,
    responses_per_ranked_prompt: int = 4,
    min_len: int = 2,
    max_len: int = 5,
    misconception_families: tuple[str, ...] | list[str] = (),
    misconception_rate: float = 0.0,
    eft_near_miss: float = 0.0,
    eft_bias: str = "none",
) -> dict[str, list[dict]]:
    """All seed and evaluation sets of the synthetic world (record formats as for OASST).

    ``misconception_rate`` of the IFT answers of ``misconception_families`` carry that family's
    systematic mistake (``MISCONCEPTIONS``): seed data with room to improve, which the judge,
    trained on right EFT grades, can see. ``eft_near_miss`` of the wrong EFT responses are
    mistakes of the kinds a policy makes (``SyntheticWorld.near_miss``) instead of random
    letters. ``eft_bias``: see ``eft_score``.
    """
    if not 2 <= responses_per_ranked_prompt <= 6:
        raise ValueError("data.responses_per_ranked_prompt must be between 2 and 6 (grades 0-5)")
    unknown = sorted(set(misconception_families) - set(MISCONCEPTIONS))
    if unknown:
        raise ValueError(
            f"data.misconceptions.families: unknown {unknown}; known: {sorted(MISCONCEPTIONS)}"
        )
    if eft_bias not in EFT_BIASES:
        raise ValueError(f"data.eft_bias must be one of {EFT_BIASES}, got {eft_bias!r}")
    world = SyntheticWorld(seed, min_len, max_len)
    ift = []
    for _ in range(n_ift):
        t = world.task()
        g = 4 if world.rng.random() < padded_fraction else 5
        response = world.response(t, g)
        if t.family in misconception_families and world.rng.random() < misconception_rate:
            wrong = " ".join(MISCONCEPTIONS[t.family](list(t.letters)))
            response = world.pad(wrong) if g == 4 else wrong
        ift.append({"id": _stable_id("ift", t.prompt), "prompt": t.prompt, "response": response})
    eft = []
    for _ in range(n_eft):
        t = world.task()
        g, padded = world.rng.choice(EFT_KINDS)
        response = world.response(t, g, padded)
        if g in (2, 3) and world.rng.random() < eft_near_miss:
            near = world.near_miss(t, g)
            if near:
                response = world.pad(near) if padded else near
        judgment, score = judgment_text(t, response, eft_bias)
        eft.append(
            {
                "id": _stable_id("eft", t.prompt),
                "prompt": t.prompt,
                "response": response,
                "judgment": judgment,
                "score": float(score),
            }
        )
    ranked_eval = []
    for _ in range(n_ranked_eval):
        t = world.task()
        grades = sorted(world.rng.sample(range(6), responses_per_ranked_prompt), reverse=True)
        ranked_eval.append(
            {
                "prompt_id": _stable_id("ranked", t.prompt),
                "prompt": t.prompt,
                "responses": [
                    {"text": world.response(t, g), "rank": r} for r, g in enumerate(grades)
                ],
            }
        )
    eval_prompts = [world.task() for _ in range(n_eval_prompts)]
    alpaca = [world.task() for _ in range(n_alpaca_eval)]
    return {
        "ift": ift,
        "eft": eft,
        "ranked_eval": ranked_eval,
        "eval_prompts": [
            {"id": _stable_id("eval", t.prompt), "prompt": t.prompt} for t in eval_prompts
        ],
        "alpaca_eval": [{"instruction": t.prompt, "dataset": "srlm_synthetic"} for t in alpaca],
    }


def pretraining_corpus(
    seed: int,
    n_documents: int,
    tasks_per_list: int = 9,
    list_every: int = 10,
    chat_every: int = 2,
    compare_every: int = 0,
) -> list[str]:
    """Text for M0's brief pretraining: solved tasks, some as chat turns, numbered task lists
    and letter-by-letter comparisons.

    Like web text that holds dialogues, part of the solved tasks are written in the chat format
    (``<|user|>`` ... ``<|assistant|>`` ...; the trailing EOS is added by the trainer): without
    it SFT meets the role tokens untrained and the tiny model forgets its tasks (73% -> 34%
    greedy accuracy). The task lists (the Self-Instruct layout) let M0 continue "9." with a new
    task, so the base model can serve as the fixed Self-Instruct generator. M0 never sees a
    judgment, a grade or a score.

    ``compare_every=N`` makes every Nth document a proofreading worksheet
    (``SyntheticWorld.comparison_document``): what a real base model brings to judging, checking
    a response against what was expected (``model=tiny`` uses N=2). A 2-layer model learns it
    late. Greedy probes of recipe seed 1's M0 (world version 7, 300 documents): 81% of wrong
    texts caught at step 1,500, 98% at step 2,400; with batch 16 instead of 32 M0 took 141 s
    instead of 253 s but caught 93% and answered only 0.51 of chat-format tasks right (0.98).
    """
    world = SyntheticWorld(seed + 7919)
    docs = []
    for i in range(n_documents):
        if i % list_every == list_every - 1:
            lines = [
                f"{j}. {world.task(unique=False).prompt}" for j in range(1, tasks_per_list + 1)
            ]
            docs.append("Come up with a series of tasks:\n" + "\n".join(lines))
        elif compare_every and i % compare_every == compare_every - 1:
            docs.append(world.comparison_document())
        else:
            t = world.task(unique=False)
            if chat_every and i % chat_every == 0:
                docs.append(f"<|user|>\n{t.prompt}\n<|assistant|>\n{t.answer}")
            else:
                docs.append(f"{t.prompt}\n{t.answer}")
    return docs
