"""The paper's seed data from Open Assistant (paper §3.1.1): IFT, ranked sets, EFT.

Three steps, each usable alone:

* ``load_oasst_messages`` reads flat OASST messages (the HF ``OpenAssistant/oasst1`` rows) from a
  local ``.jsonl`` / ``.jsonl.gz`` / ``.parquet`` file or from the hub, and validates every row so
  a bad dump fails with one line that names file, row and field instead of deep in a stage.
* ``build_oasst_seed`` turns messages into IFT examples (first turn, English, human rank 0) and
  ranked response sets (first-turn prompts with >= 2 human-ranked replies), the latter split
  deterministically into EFT-train and EFT-eval (the reward-modelling evaluation set).
* ``build_oasst_eval`` takes the evaluation side whole from a split of its own (the paper
  preset: OASST1 validation, 541 ranked replies): the ranked eval set and the IFT-test prompts;
  ``drop_overlap`` removes what the training side also has.
* ``build_eft`` keeps the SFT model's judgments of a ranked set only when its scores order the
  replies as the humans did, then thins the over-represented score (paper: score 4).

Record formats (shared with the rest of the project):

* IFT: ``{"id", "prompt", "response"}``
* ranked set: ``{"prompt_id", "prompt", "responses": [{"text", "rank"}]}``, rank 0 = best
* EFT: ``{"id", "prompt", "response", "judgment", "score"}``
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from srlm.artifacts import iter_jsonl

log = logging.getLogger("srlm")

ROLES = ("assistant", "prompter")
SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")
# Suffixes that mark ``source`` as a file path (so a typo is "file not found", not a hub lookup).
_PATHLIKE_SUFFIXES = SUFFIXES + (".json", ".json.gz", ".gz", ".csv", ".tsv", ".arrow", ".txt")

# field -> (accepted types, may be null, human-readable type). Required fields first.
_REQUIRED: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "message_id": ((str,), False, "str"),
    "parent_id": ((str,), True, "str or null"),
    "text": ((str,), False, "str"),
    "role": ((str,), False, "str"),
    "lang": ((str,), False, "str"),
    "rank": ((int,), True, "int or null"),
}
# Optional fields the builder reads: checked only when present.
_OPTIONAL: dict[str, tuple[tuple[type, ...], bool, str]] = {
    "deleted": ((bool,), True, "bool or null"),
    "review_result": ((bool,), True, "bool or null"),
    "message_tree_id": ((str,), True, "str or null"),
}


class OasstDataError(ValueError):
    """A malformed OASST source; the message is one line naming file, row and field."""


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_oasst_messages(source: str | Path, split: str = "train") -> list[dict]:
    """Validated flat OASST messages from a local file or a hub dataset id.

    ``source`` is read as a local file when it exists or looks like a path (absolute, ``./``,
    or a data-file suffix); otherwise it is passed to ``datasets.load_dataset(source,
    split=split)``. ``split`` is ignored for local files. Row numbers in errors are 1-based
    (the line number for JSONL, the row index for parquet and hub datasets).
    """
    text = str(source)
    if is_local(text):
        return list(_validated(_read_local(Path(text).expanduser(), text), text))
    return _load_hub(text, split)


def is_local(source: str | Path) -> bool:
    """Whether ``load_oasst_messages`` reads ``source`` as a local file (else: a hub id)."""
    text = str(source)
    return Path(text).expanduser().exists() or _looks_like_path(text)


def _looks_like_path(source: str) -> bool:
    lower = source.lower()
    return (
        source.startswith(("/", "./", "../", "~", ".\\"))
        or lower.endswith(_PATHLIKE_SUFFIXES)
        or Path(source).is_absolute()
    )


def _read_local(path: Path, label: str) -> Iterator[tuple[int, Any]]:
    """(row number, raw row) pairs; raw JSON errors are reported here with the line number."""
    if not path.exists():
        raise OasstDataError(f"{label}: file not found")
    if not path.is_file():
        raise OasstDataError(f"{label}: not a file (expected one of {', '.join(SUFFIXES)})")
    name = path.name.lower()
    if name.endswith(".parquet"):
        yield from _read_parquet(path, label)
    elif name.endswith((".jsonl", ".jsonl.gz")):
        yield from _read_jsonl(path, label)
    else:
        suffix = "".join(path.suffixes) or "(none)"
        raise OasstDataError(
            f"{label}: unknown extension {suffix!r} (expected one of {', '.join(SUFFIXES)})"
        )


def _read_jsonl(path: Path, label: str) -> Iterator[tuple[int, Any]]:
    try:
        yield from iter_jsonl(path)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise OasstDataError(f"{label}: cannot read ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:  # a bad line: "path:LINE: not valid JSON (...)"
        raise OasstDataError(str(exc)) from None


def _read_parquet(path: Path, label: str) -> Iterator[tuple[int, Any]]:
    # pyarrow keeps nullable ints as int/None; pandas would turn a null rank into NaN float.
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise OasstDataError(f"{label}: cannot read parquet ({type(exc).__name__})") from None
    yield from enumerate(rows, start=1)


def _load_hub(source: str, split: str) -> list[dict]:
    import datasets

    dataset = datasets.load_dataset(source, split=split)
    return list(_validated(enumerate(dataset, start=1), f"{source}[{split}]"))


def _validated(rows: Iterable[tuple[int, Any]], label: str) -> Iterator[dict]:
    for rowno, row in rows:
        yield _validate_row(row, label, rowno)


def _validate_row(row: Any, label: str, rowno: int) -> dict:
    where = f"{label}: row {rowno}"
    if not isinstance(row, Mapping):
        raise OasstDataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    row = dict(row)
    rank = row.get("rank")
    if isinstance(rank, float) and (math.isnan(rank) or rank.is_integer()):
        # A pandas-written parquet stores a nullable int column as float with NaN for null.
        row["rank"] = None if math.isnan(rank) else int(rank)
    for field, spec in _REQUIRED.items():
        if field not in row:
            raise OasstDataError(f"{where}: missing field {field!r}")
        _check_type(row[field], field, spec, where)
    for field, spec in _OPTIONAL.items():
        if field in row:
            _check_type(row[field], field, spec, where)
    if row["role"] not in ROLES:
        raise OasstDataError(
            f"{where}: field 'role' must be one of {', '.join(map(repr, ROLES))}, "
            f"got {row['role']!r}"
        )
    return row


def _check_type(
    value: Any, field: str, spec: tuple[tuple[type, ...], bool, str], where: str
) -> None:
    types, nullable, wanted = spec
    if value is None:
        if nullable:
            return
    # bool is an int subclass: a rank of True is a broken dump, not rank 1.
    elif isinstance(value, types) and not (bool not in types and isinstance(value, bool)):
        return
    got = "null" if value is None else type(value).__name__
    raise OasstDataError(f"{where}: field {field!r} must be {wanted}, got {got}")


# ---------------------------------------------------------------------------------------------
# IFT and ranked sets
# ---------------------------------------------------------------------------------------------


def _unit_hash(seed: int, key: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, key): splits that do not depend on row order."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _usable(message: Mapping, drop_deleted: bool, require_review: bool) -> bool:
    if drop_deleted and message.get("deleted") is True:
        return False
    return not (require_review and message.get("review_result") is not True)


def _first_turns(
    messages: Iterable[Mapping], lang: str | None, drop_deleted: bool, require_review: bool
) -> tuple[dict[str, Mapping], dict[str, Mapping], dict[str, dict]]:
    """First-turn prompts (root id -> message), their rank-0 replies and their ranked sets."""
    rows = [m for m in messages if _usable(m, drop_deleted, require_review)]
    roots = {
        m["message_id"]: m
        for m in rows
        if m["parent_id"] is None
        and m["role"] == "prompter"
        and (lang is None or m["lang"] == lang)
    }
    replies: dict[str, list[Mapping]] = defaultdict(list)
    for m in rows:
        in_lang = lang is None or m["lang"] == lang
        if m["parent_id"] in roots and m["role"] == "assistant" and in_lang:
            replies[m["parent_id"]].append(m)

    best: dict[str, Mapping] = {}
    ranked: dict[str, dict] = {}
    for pid, kids in replies.items():
        rank0 = sorted((k for k in kids if k["rank"] == 0), key=lambda k: k["message_id"])
        if rank0:
            best[pid] = rank0[0]  # OASST has one rank-0 reply per prompt; tie-break by id
        scored = sorted(
            (k for k in kids if k["rank"] is not None),
            key=lambda k: (k["rank"], k["message_id"]),
        )
        if len(scored) >= 2:
            dense = {r: i for i, r in enumerate(sorted({k["rank"] for k in scored}))}
            ranked[pid] = {
                "prompt_id": pid,
                "prompt": roots[pid]["text"],
                "responses": [{"text": k["text"], "rank": dense[k["rank"]]} for k in scored],
            }

    return roots, best, ranked


def _hash_order(seed: int, ids: Iterable[str]) -> list[str]:
    key = {pid: _unit_hash(seed, pid) for pid in ids}
    return sorted(key, key=lambda pid: (key[pid], pid))


def build_oasst_eval(
    messages: Iterable[Mapping],
    *,
    lang: str | None = "en",
    seed: int = 0,
    drop_deleted: bool = True,
    require_review: bool = True,
) -> dict[str, list[dict]]:
    """The evaluation side from a split of its own (``data.eval_source``): nothing is carved.

    * ``ranked_eval``: every first-turn prompt with >= 2 ranked replies (the reward-modelling
      eval set). On the English first turns of OASST1's validation split that is 186 prompts and
      541 replies, the paper's EFT-eval size (v2), so the paper's eval set is most likely that
      split (unconfirmed: the paper does not name it).
    * ``eval_prompts``: the IFT-test prompts, every first-turn prompt with a rank-0 reply (the
      IFT rule, so they are held-out prompts of the IFT kind): ``{"id", "prompt"}``.

    Same filters as ``build_oasst_seed``; both lists in hash order for ``seed``.
    """
    roots, best, ranked = _first_turns(messages, lang, drop_deleted, require_review)
    order = _hash_order(seed, set(best) | set(ranked))
    return {
        "ranked_eval": [ranked[pid] for pid in order if pid in ranked],
        "eval_prompts": [{"id": pid, "prompt": roots[pid]["text"]} for pid in order if pid in best],
    }


def _prompt_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def drop_overlap(
    eval_side: Mapping[str, list[dict]], train_side: Mapping[str, list[dict]]
) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """The evaluation side without prompts the training side also has (same root id or the same
    text up to whitespace and case): OASST's train and validation splits share no tree, but the
    same question asked twice, or one file given as both sides, would leak. Returns the cleaned
    side and how many ranked eval sets and eval prompts it dropped."""
    ids: set[str] = set()
    texts: set[str] = set()
    for row in train_side.get("ift", []):  # IFT rows carry the reply's id: matched by text
        texts.add(_prompt_key(row["prompt"]))
    for item in train_side.get("ranked_train", []):
        ids.add(item["prompt_id"])
        texts.add(_prompt_key(item["prompt"]))

    def kept(pid: str, text: str) -> bool:
        return pid not in ids and _prompt_key(text) not in texts

    ranked = [it for it in eval_side["ranked_eval"] if kept(it["prompt_id"], it["prompt"])]
    prompts = [r for r in eval_side["eval_prompts"] if kept(r["id"], r["prompt"])]
    dropped = {
        "ranked_eval": len(eval_side["ranked_eval"]) - len(ranked),
        "eval_prompts": len(eval_side["eval_prompts"]) - len(prompts),
    }
    return {"ranked_eval": ranked, "eval_prompts": prompts}, dropped


def ranked_replies(items: Iterable[Mapping]) -> int:
    """How many replies a list of ranked sets holds (the paper counts EFT-eval in replies)."""
    return sum(len(item["responses"]) for item in items)


def build_oasst_seed(
    messages: Iterable[Mapping],
    *,
    lang: str | None = "en",
    eval_fraction: float = 0.25,
    ift_disjoint_from_ranked: bool = True,
    ift_share: float = 0.5,
    max_ift: int | None = None,
    seed: int = 0,
    drop_deleted: bool = True,
    require_review: bool = True,
) -> dict[str, list[dict]]:
    """IFT examples and ranked sets (EFT-train / EFT-eval) from flat OASST messages.

    Only first turns count (a root prompter message and its direct assistant replies), and
    with ``lang`` set both prompt and reply must be in that language (paper: "first turn only,
    English, human rank 0"). ``drop_deleted`` drops messages flagged ``deleted``;
    ``require_review`` keeps only messages whose ``review_result`` is true (null = never
    reviewed is dropped too). On the OASST1 English validation split neither filter removes a
    first-turn prompt or ranked reply.

    * ``ift``: one example per prompt, its human rank-0 reply. id = the reply's message_id.
    * ranked sets: prompts with >= 2 surviving ranked replies, sorted best first; ranks are
      re-numbered densely (0, 1, ...) after filtering so rank 0 is always the best kept reply
      (ties keep equal ranks). prompt_id = the root message_id (= OASST message_tree_id).

    Splits are fixed by ``sha256(seed:prompt_id)``, so they do not depend on row order: a
    ranked prompt goes to ``ranked_eval`` when its hash is below ``eval_fraction``. The default
    0.25 is the paper's eval share, 541 / (1,630 + 541).

    ``ift_disjoint_from_ranked`` (default True, the paper's "disjoint from IFT"): no prompt is in
    both IFT and a ranked split. Eval prompts are never IFT prompts (training the SFT model on
    the best human answer of an eval prompt would leak the reward-modelling eval set); of the
    other prompts, those eligible for both go to IFT when their hash falls in the first
    ``ift_share`` of the non-eval range, else to ``ranked_train``. We chose this three-way split
    over "ranked wins" or "IFT wins" because OASST prompts with a rank-0 reply nearly always
    have >= 2 ranked replies: in the local English validation file all 186 IFT prompts are
    exactly the 186 ranked prompts, so either priority rule would leave one side empty, while
    the split gives a researcher non-empty, leak-free IFT, EFT-train and EFT-eval sets from
    any file. Pass ``False`` to use every prompt for IFT and every ranked prompt for EFT
    (then only the split between ranked_train and ranked_eval is disjoint).

    ``max_ift`` keeps the first ``max_ift`` IFT examples in hash order (paper: 3,200 from the
    OASST1 train split); when disjoint, the prompts it cuts that have a ranked set go to
    ``ranked_train`` rather than being wasted. ``ift_share`` 0.5 is an even split: the paper
    does not say how its prompts were divided. Paper-like use on the OASST1 train split:
    ``eval_fraction=0, max_ift=3200, ift_share=1`` (IFT first, the rest to EFT-train).

    Note: the English first turns of the OASST1 validation split carry exactly 541 ranked
    replies (531 sibling pairs), the paper's EFT-eval sizes (v2 541 / v1 531), which suggests
    the paper's eval set is that split (unconfirmed): ``build_oasst_eval`` takes it whole
    (``data.eval_source``), and this function then builds the training side alone
    (``eval_fraction=0``).

    Lists are in hash order (a fixed shuffle), deterministic for ``seed``.
    """
    if not 0.0 <= eval_fraction <= 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1], got {eval_fraction}")
    if not 0.0 <= ift_share <= 1.0:
        raise ValueError(f"ift_share must be in [0, 1], got {ift_share}")
    if max_ift is not None and max_ift < 0:
        raise ValueError(f"max_ift must be >= 0 or None, got {max_ift}")

    roots, best, ranked = _first_turns(messages, lang, drop_deleted, require_review)
    key = {pid: _unit_hash(seed, pid) for pid in set(best) | set(ranked)}
    order = _hash_order(seed, key)
    eval_ids = {pid for pid in ranked if key[pid] < eval_fraction}
    if ift_disjoint_from_ranked:
        ift_ids, train_ids = [], []
        for pid in order:
            if pid in eval_ids:
                continue
            if pid in best and pid in ranked:
                # Where the hash lies inside the non-eval range [eval_fraction, 1).
                rest = (key[pid] - eval_fraction) / (1.0 - eval_fraction)
                (ift_ids if rest < ift_share else train_ids).append(pid)
            else:
                (ift_ids if pid in best else train_ids).append(pid)
        if max_ift is not None and len(ift_ids) > max_ift:
            # IFT overflow that could be a ranked set is not wasted: it goes to EFT-train.
            to_train = set(train_ids) | {pid for pid in ift_ids[max_ift:] if pid in ranked}
            ift_ids = ift_ids[:max_ift]
            train_ids = [pid for pid in order if pid in to_train]
    else:
        ift_ids = [pid for pid in order if pid in best][:max_ift]
        train_ids = [pid for pid in order if pid in ranked and pid not in eval_ids]

    return {
        "ift": [
            {
                "id": best[pid]["message_id"],
                "prompt": roots[pid]["text"],
                "response": best[pid]["text"],
            }
            for pid in ift_ids
        ],
        "ranked_train": [ranked[pid] for pid in train_ids],
        "ranked_eval": [ranked[pid] for pid in order if pid in eval_ids],
    }


# ---------------------------------------------------------------------------------------------
# EFT filtering
# ---------------------------------------------------------------------------------------------


def _valid_score(score: Any) -> bool:
    return isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)


def scores_agree(
    ranks: Sequence[int], scores: Sequence[float | None], *, allow_score_ties: bool = False
) -> bool:
    """True when the judge's scores order the replies as the humans ranked them.

    Every pair with different human ranks must be ordered the same way by the scores: the
    better-ranked (lower rank) reply gets a strictly higher score. A tie in score on a pair
    the humans separated is a disagreement unless ``allow_score_ties``: a judge that cannot
    tell them apart taught the EFT data nothing about that pair. Pairs the humans tied impose
    nothing. Any unparseable (None / non-finite) score means no agreement.
    """
    if len(ranks) != len(scores):
        raise ValueError(f"{len(ranks)} ranks but {len(scores)} scores")
    if not all(_valid_score(s) for s in scores):
        return False
    for i in range(len(ranks)):
        for j in range(len(ranks)):
            if ranks[i] < ranks[j]:
                if scores[i] < scores[j]:
                    return False
                if scores[i] == scores[j] and not allow_score_ties:
                    return False
    return True


def _histogram(examples: Iterable[Mapping]) -> dict[float, int]:
    counts = Counter(float(e["score"]) for e in examples)
    return dict(sorted(counts.items()))


def build_eft(
    ranked_items: Iterable[Mapping],
    judged: Mapping[str, Sequence[tuple[str, float | None]]],
    *,
    over_represented_score: float | None = 4.0,
    keep_fraction: float | None = None,
    allow_score_ties: bool = False,
    seed: int = 0,
    target: int | None = None,
) -> tuple[list[dict], dict]:
    """The paper's EFT filter: keep judgments whose scores agree with the human ranking.

    ``judged[prompt_id]`` lists ``(judgment_text, score_or_None)`` aligned with that item's
    ``responses``. A prompt is kept whole (one EFT example per reply) when ``scores_agree``;
    a prompt with no judgments, or any unparseable score, is dropped.

    Then part of ``over_represented_score`` (paper: 4) is dropped "to re-balance":

    * ``keep_fraction=None`` (default): cap its count at the count of the next most common
      score, so it no longer dominates; nothing is dropped when it is not the most common.
      The paper gives no amount, and a cap adapts to however skewed the judge is.
    * ``keep_fraction=f``: keep ``round(f * n)`` of its ``n`` examples regardless.

    Which examples survive is fixed by ``sha256(seed:id)``. ``over_represented_score=None``
    skips thinning. Returns ``(examples, stats)``; examples are in input order, with
    id ``"<prompt_id>/<reply index>"``.

    ``target`` (paper: 1,630 EFT training examples, counted after this filter and the thinning)
    is only checked: fewer kept examples is a warning and ``stats["shortfall"]`` (the missing
    count), never padding.
    """
    if keep_fraction is not None and not 0.0 <= keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in [0, 1] or None, got {keep_fraction}")

    items = list(ranked_items)
    agreeing: list[dict] = []
    n_agreeing = n_missing = n_unparseable = 0
    for item in items:
        pid = item["prompt_id"]
        responses = item["responses"]
        if pid not in judged:
            n_missing += 1
            continue
        verdicts = list(judged[pid])
        if len(verdicts) != len(responses):
            raise ValueError(
                f"prompt {pid!r}: {len(verdicts)} judgments for {len(responses)} responses"
            )
        scores = [score for _, score in verdicts]
        if not all(_valid_score(s) for s in scores):
            n_unparseable += 1
            continue
        ranks = [r["rank"] for r in responses]
        if not scores_agree(ranks, scores, allow_score_ties=allow_score_ties):
            continue
        n_agreeing += 1
        for index, (response, (judgment, score)) in enumerate(zip(responses, verdicts)):
            agreeing.append(
                {
                    "id": f"{pid}/{index}",
                    "prompt": item["prompt"],
                    "response": response["text"],
                    "judgment": judgment,
                    "score": float(score),
                }
            )

    before = _histogram(agreeing)
    kept = agreeing
    n_target = None
    if over_represented_score is not None:
        thinned = float(over_represented_score)
        n_over = before.get(thinned, 0)
        if keep_fraction is not None:
            n_target = round(keep_fraction * n_over)
        else:
            others = [n for s, n in before.items() if s != thinned]
            n_target = min(n_over, max(others)) if others else n_over
        if n_target < n_over:
            over = [e for e in agreeing if e["score"] == thinned]
            survivors = sorted(over, key=lambda e: (_unit_hash(seed, e["id"]), e["id"]))
            keep_ids = {e["id"] for e in survivors[:n_target]}
            kept = [e for e in agreeing if e["score"] != thinned or e["id"] in keep_ids]

    stats = {
        "n_items": len(items),
        "n_missing": n_missing,
        "n_unparseable": n_unparseable,
        "n_disagreeing": len(items) - n_missing - n_unparseable - n_agreeing,
        "n_agreeing": n_agreeing,
        "n_agreeing_examples": len(agreeing),
        "n_kept": len(kept),
        "score_hist_before": before,
        "score_hist_after": _histogram(kept),
    }
    if target is not None:
        stats["target"] = int(target)
        stats["shortfall"] = max(0, int(target) - len(kept))
        if stats["shortfall"]:
            log.warning(
                "EFT: %d training examples kept, %d short of the target %d (data.eft.target): "
                "%d of %d ranked prompts agreed with the human ranking, %d unparseable",
                len(kept),
                stats["shortfall"],
                target,
                n_agreeing,
                len(items),
                n_unparseable,
            )
    return kept, stats
