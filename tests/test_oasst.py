"""OASST seed construction: loading/validation, IFT + ranked sets, EFT filtering.

Real-data checks read shared/data at run time (never copied here) and skip when it is absent;
everything else uses small hand-made messages written to tmp_path.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
from pathlib import Path

import pandas as pd
import pytest

from srlm.data.oasst import (
    OasstDataError,
    build_eft,
    build_oasst_eval,
    build_oasst_seed,
    drop_overlap,
    load_oasst_messages,
    ranked_replies,
    scores_agree,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OASST_VAL = SHARED / "oasst1_validation_en" / "oasst1_validation_en.jsonl.gz"


def msg(mid: str, parent: str | None, role: str, text: str, rank: int | None = None, **kw) -> dict:
    row = {
        "message_id": mid,
        "parent_id": parent,
        "text": text,
        "role": role,
        "lang": "en",
        "rank": rank,
        "deleted": False,
        "review_result": True,
        "message_tree_id": kw.pop("tree", mid if parent is None else "t"),
    }
    row.update(kw)
    return row


def tiny_messages() -> list[dict]:
    """Three English trees, one German tree, plus deeper turns and filtered messages."""
    return [
        # p1: three ranked replies (given out of order), one unranked; a second turn below.
        msg("p1", None, "prompter", "Name a fruit."),
        msg("a1b", "p1", "assistant", "A pear.", 1),
        msg("a1a", "p1", "assistant", "An apple.", 0),
        msg("a1c", "p1", "assistant", "Rock.", 2),
        msg("a1u", "p1", "assistant", "Unranked.", None),
        msg("p1x", "a1a", "prompter", "Another?"),
        msg("a1x", "p1x", "assistant", "A plum.", 0),
        msg("a1y", "p1x", "assistant", "A fig.", 1),
        # p2: rank-0 reply deleted -> no IFT example; ranks 1, 3 re-numbered to 0, 1.
        msg("p2", None, "prompter", "Say hi."),
        msg("a2a", "p2", "assistant", "Hi!", 0, deleted=True),
        msg("a2b", "p2", "assistant", "Hello.", 1),
        msg("a2c", "p2", "assistant", "Hey", 3),
        # p3: a single ranked reply -> IFT only; a rejected reply is dropped.
        msg("p3", None, "prompter", "Count to two."),
        msg("a3a", "p3", "assistant", "1 2", 0),
        msg("a3b", "p3", "assistant", "1 2 3", None, review_result=False),
        # p4: German -> ignored for lang="en".
        msg("p4", None, "prompter", "Hallo?", lang="de"),
        msg("a4a", "p4", "assistant", "Hallo!", 0, lang="de"),
        msg("a4b", "p4", "assistant", "Servus!", 1, lang="de"),
    ]


def write_jsonl(path: Path, rows: list) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# Real OASST1 validation (English), read at run time
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oasst_val() -> list[dict]:
    if not OASST_VAL.is_file():
        pytest.skip(f"shared data not available: {OASST_VAL}")
    return load_oasst_messages(str(OASST_VAL))


def test_real_validation_counts(oasst_val: list[dict]) -> None:
    # Hand computation (done once in a plain script, independent of srlm): group the 2,022 rows
    # by parent_id; roots = parent_id null -> 188, all English prompters. Root children that are
    # assistant with rank 0 -> 186, one per root, none deleted or review_result != True. Roots
    # with >= 2 non-null-rank assistant children -> 186 (the same 186 roots), sizes 3 x 155,
    # 2 x 24, 4 x 7 = 541 replies, sum of C(k, 2) = 155*3 + 24 + 7*6 = 531 pairs, no rank ties;
    # one more root has a single ranked reply (rank 2) and is not a ranked set. This matches
    # shared/data/README.md (188 roots, 186 rank-0, 186 prompts -> 531 pairs).
    assert len(oasst_val) == 2022
    roots = [m for m in oasst_val if m["parent_id"] is None and m["lang"] == "en"]
    assert len(roots) == 188

    seed = build_oasst_seed(oasst_val, eval_fraction=0.0, ift_disjoint_from_ranked=False)
    assert len(seed["ift"]) == 186
    assert seed["ranked_eval"] == []
    ranked = seed["ranked_train"]
    assert len(ranked) == 186
    sizes = [len(item["responses"]) for item in ranked]
    assert sum(sizes) == 541
    assert sum(k * (k - 1) // 2 for k in sizes) == 531
    assert {item["prompt_id"] for item in ranked} == {
        m["parent_id"] for m in oasst_val if m["message_id"] in {e["id"] for e in seed["ift"]}
    }

    # eval_fraction=1.0: the whole split is the reward-modelling eval set (541 replies).
    everything_eval = build_oasst_seed(oasst_val, eval_fraction=1.0)
    assert len(everything_eval["ranked_eval"]) == 186
    assert everything_eval["ift"] == [] and everything_eval["ranked_train"] == []


def test_real_validation_splits(oasst_val: list[dict]) -> None:
    seed = build_oasst_seed(oasst_val)  # defaults: disjoint, eval_fraction 0.25
    ift_prompts = {e["prompt"] for e in seed["ift"]}
    ift_roots = {
        m["parent_id"] for m in oasst_val if m["message_id"] in {e["id"] for e in seed["ift"]}
    }
    train_ids = {item["prompt_id"] for item in seed["ranked_train"]}
    eval_ids = {item["prompt_id"] for item in seed["ranked_eval"]}
    assert seed["ift"] and seed["ranked_train"] and seed["ranked_eval"]
    assert not ift_roots & train_ids and not ift_roots & eval_ids and not train_ids & eval_ids
    assert not ift_prompts & {item["prompt"] for item in seed["ranked_eval"]}
    # The three-way split uses every eligible prompt exactly once.
    assert len(ift_roots) + len(train_ids) + len(eval_ids) == 186
    assert 0.1 < len(eval_ids) / 186 < 0.4

    for item in seed["ranked_train"] + seed["ranked_eval"]:
        ranks = [r["rank"] for r in item["responses"]]
        assert ranks == sorted(ranks) and ranks[0] == 0 and len(ranks) >= 2
        assert set(item) == {"prompt_id", "prompt", "responses"}
    for example in seed["ift"]:
        assert set(example) == {"id", "prompt", "response"}

    # Deterministic across calls and independent of row order; another seed moves the split.
    shuffled = list(oasst_val)
    random.Random(1).shuffle(shuffled)
    assert build_oasst_seed(shuffled) == seed
    other = build_oasst_seed(oasst_val, seed=1)
    assert {item["prompt_id"] for item in other["ranked_eval"]} != eval_ids


# ---------------------------------------------------------------------------------------------
# Loading and validation on hand-made files
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["m.jsonl", "m.jsonl.gz"])
def test_jsonl_round_trip(tmp_path: Path, name: str) -> None:
    rows = tiny_messages()
    path = write_jsonl(tmp_path / name, rows[:3] + [""] + rows[3:])  # blank line is skipped
    assert load_oasst_messages(str(path)) == rows


def test_parquet_round_trip(tmp_path: Path) -> None:
    rows = tiny_messages()
    path = tmp_path / "m.parquet"
    # pandas stores the nullable int rank as float64 with NaN; the loader restores int / None.
    pd.DataFrame(rows).to_parquet(path)
    loaded = load_oasst_messages(path)
    assert loaded == rows
    assert all(m["rank"] is None or type(m["rank"]) is int for m in loaded)


def test_invalid_json_line(tmp_path: Path) -> None:
    rows = tiny_messages()
    path = write_jsonl(tmp_path / "bad.jsonl", [rows[0], rows[1], '{"message_id": "x",'])
    with pytest.raises(OasstDataError) as err:
        load_oasst_messages(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}:3: not valid JSON") and "\n" not in text


def test_missing_field_jsonl(tmp_path: Path) -> None:
    rows = tiny_messages()[:4]
    del rows[1]["role"]
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(OasstDataError, match=r"^.*x\.jsonl: row 2: missing field 'role'$"):
        load_oasst_messages(str(path))


def test_missing_column_parquet(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pd.DataFrame(tiny_messages()).drop(columns=["lang"]).to_parquet(path)
    with pytest.raises(OasstDataError) as err:
        load_oasst_messages(str(path))
    assert str(err.value) == f"{path}: row 1: missing field 'lang'"


def test_wrong_role(tmp_path: Path) -> None:
    rows = tiny_messages()[:3]
    rows[2]["role"] = "user"
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(OasstDataError) as err:
        load_oasst_messages(str(path))
    assert str(err.value) == (
        f"{path}: row 3: field 'role' must be one of 'assistant', 'prompter', got 'user'"
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("rank", "0", "field 'rank' must be int or null, got str"),
        ("rank", True, "field 'rank' must be int or null, got bool"),
        ("rank", 0.5, "field 'rank' must be int or null, got float"),
        ("text", None, "field 'text' must be str, got null"),
        ("parent_id", 7, "field 'parent_id' must be str or null, got int"),
        ("deleted", "no", "field 'deleted' must be bool or null, got str"),
    ],
)
def test_wrong_types(tmp_path: Path, field: str, value: object, expected: str) -> None:
    rows = tiny_messages()[:2]
    rows[1][field] = value
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(OasstDataError) as err:
        load_oasst_messages(str(path))
    assert str(err.value) == f"{path}: row 2: {expected}"


def test_not_an_object(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", ["[1, 2]"])
    with pytest.raises(OasstDataError, match=r"row 1: expected a JSON object, got list$"):
        load_oasst_messages(str(path))


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("message_id\n")
    with pytest.raises(OasstDataError, match=r"m\.csv: unknown extension '\.csv'"):
        load_oasst_messages(str(csv))
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(OasstDataError, match=r"nope\.jsonl: file not found$"):
        load_oasst_messages(str(missing))
    assert issubclass(OasstDataError, ValueError)


def test_hub_id_goes_to_load_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls = []

    def fake_load_dataset(source: str, split: str) -> list[dict]:
        calls.append((source, split))
        rows = tiny_messages()[:3]
        rows[2]["lang"] = None
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(OasstDataError) as err:
        load_oasst_messages("OpenAssistant/oasst1", split="validation")
    assert calls == [("OpenAssistant/oasst1", "validation")]
    assert str(err.value) == (
        "OpenAssistant/oasst1[validation]: row 3: field 'lang' must be str, got null"
    )


# ---------------------------------------------------------------------------------------------
# build_oasst_seed on hand-made messages
# ---------------------------------------------------------------------------------------------


def test_seed_rules_on_tiny_trees() -> None:
    seed = build_oasst_seed(tiny_messages(), eval_fraction=0.0, ift_disjoint_from_ranked=False)
    # IFT: first-turn rank-0 replies that survive the filters (p2's is deleted, p4 is German).
    assert sorted(seed["ift"], key=lambda e: e["id"]) == [
        {"id": "a1a", "prompt": "Name a fruit.", "response": "An apple."},
        {"id": "a3a", "prompt": "Count to two.", "response": "1 2"},
    ]
    ranked = {item["prompt_id"]: item for item in seed["ranked_train"]}
    assert set(ranked) == {"p1", "p2"}  # p3 has one ranked reply; second turns never count
    assert ranked["p1"]["responses"] == [
        {"text": "An apple.", "rank": 0},
        {"text": "A pear.", "rank": 1},
        {"text": "Rock.", "rank": 2},
    ]
    # Ranks re-numbered densely after the deleted rank-0 reply is dropped.
    assert ranked["p2"]["responses"] == [{"text": "Hello.", "rank": 0}, {"text": "Hey", "rank": 1}]

    unfiltered = build_oasst_seed(
        tiny_messages(), eval_fraction=0.0, ift_disjoint_from_ranked=False, drop_deleted=False
    )
    assert {e["id"] for e in unfiltered["ift"]} == {"a1a", "a2a", "a3a"}
    german = build_oasst_seed(tiny_messages(), lang="de", eval_fraction=0.0)
    assert [e["id"] for e in german["ift"]] + [i["prompt_id"] for i in german["ranked_train"]] in (
        ["a4a"],
        ["p4"],
    )


def _many_trees(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        rows.append(msg(f"p{i:03d}", None, "prompter", f"Question {i}?"))
        for r in range(3):
            rows.append(msg(f"a{i:03d}-{r}", f"p{i:03d}", "assistant", f"Answer {i}.{r}", r))
    return rows


def test_seed_split_disjoint_deterministic_and_max_ift() -> None:
    rows = _many_trees(200)
    seed = build_oasst_seed(rows, eval_fraction=0.25, ift_share=0.5, seed=3)
    ift = {e["id"].split("-")[0].replace("a", "p") for e in seed["ift"]}
    train = {i["prompt_id"] for i in seed["ranked_train"]}
    evals = {i["prompt_id"] for i in seed["ranked_eval"]}
    assert len(ift) + len(train) + len(evals) == 200
    assert not ift & train and not ift & evals and not train & evals
    assert 30 < len(evals) < 70 and 50 < len(ift) < 100
    assert build_oasst_seed(list(reversed(rows)), eval_fraction=0.25, seed=3) == seed

    capped = build_oasst_seed(rows, eval_fraction=0.25, seed=3, max_ift=10)
    assert [e["id"] for e in capped["ift"]] == [e["id"] for e in seed["ift"]][:10]
    # The cut IFT prompts become ranked sets; the eval split does not move.
    assert len(capped["ranked_train"]) == len(train) + len(ift) - 10
    assert capped["ranked_eval"] == seed["ranked_eval"]

    overlapping = build_oasst_seed(rows, eval_fraction=0.25, seed=3, ift_disjoint_from_ranked=False)
    assert len(overlapping["ift"]) == 200 and overlapping["ranked_eval"] == seed["ranked_eval"]


# ---------------------------------------------------------------------------------------------
# build_eft
# ---------------------------------------------------------------------------------------------


def _item(pid: str, n: int) -> dict:
    return {
        "prompt_id": pid,
        "prompt": f"Prompt {pid}",
        "responses": [{"text": f"{pid} reply {r}", "rank": r} for r in range(n)],
    }


def _judge(*scores: float | None) -> list[tuple[str, float | None]]:
    return [(f"Reasons. Score: {s}", s) for s in scores]


def test_scores_agree_definition() -> None:
    assert scores_agree([0, 1, 2], [5, 4, 1])
    assert not scores_agree([0, 1, 2], [5, 1, 4])  # one pair flipped
    assert not scores_agree([0, 1], [4, 4])  # humans separated them, the judge did not
    assert scores_agree([0, 1], [4, 4], allow_score_ties=True)
    assert scores_agree([0, 0, 1], [3, 4, 2])  # human ties impose nothing
    assert not scores_agree([0, 1], [4, None])


def test_build_eft_filters_disagreement_and_unparseable() -> None:
    items = [
        _item("good", 3),
        _item("flip", 2),
        _item("tie", 2),
        _item("none", 3),
        _item("gone", 2),
    ]
    judged = {
        "good": _judge(5, 3, 1),
        "flip": _judge(2, 4),
        "tie": _judge(3, 3),
        "none": _judge(5, None, 1),
    }
    examples, stats = build_eft(items, judged, over_represented_score=None)
    assert [e["id"] for e in examples] == ["good/0", "good/1", "good/2"]
    assert examples[0] == {
        "id": "good/0",
        "prompt": "Prompt good",
        "response": "good reply 0",
        "judgment": "Reasons. Score: 5",
        "score": 5.0,
    }
    assert stats["n_items"] == 5 and stats["n_agreeing"] == 1 and stats["n_kept"] == 3
    assert stats["n_unparseable"] == 1 and stats["n_missing"] == 1 and stats["n_disagreeing"] == 2
    assert stats["score_hist_before"] == stats["score_hist_after"] == {1.0: 1, 3.0: 1, 5.0: 1}

    with pytest.raises(ValueError, match="2 judgments for 3 responses"):
        build_eft([_item("x", 3)], {"x": _judge(5, 4)})


def _skewed() -> tuple[list[dict], dict]:
    # 20 agreeing prompts: replies scored (4, 3) x 12, (5, 4) x 6, (4, 2) x 2
    # -> before thinning: 4 x 20, 3 x 12, 5 x 6, 2 x 2.
    pattern = [(4, 3)] * 12 + [(5, 4)] * 6 + [(4, 2)] * 2
    items = [_item(f"q{i:02d}", 2) for i in range(len(pattern))]
    judged = {item["prompt_id"]: _judge(*s) for item, s in zip(items, pattern)}
    return items, judged


def test_build_eft_thins_over_represented_score() -> None:
    items, judged = _skewed()
    kept, stats = build_eft(items, judged, seed=0)
    assert stats["score_hist_before"] == {2.0: 2, 3.0: 12, 4.0: 20, 5.0: 6}
    # Default cap: score 4 down to the next most common score's count (12).
    assert stats["score_hist_after"] == {2.0: 2, 3.0: 12, 4.0: 12, 5.0: 6}
    assert stats["n_kept"] == len(kept) == 32

    again, _ = build_eft(items, judged, seed=0)
    assert again == kept  # deterministic for the seed
    other, _ = build_eft(items, judged, seed=1)
    assert {e["id"] for e in other} != {e["id"] for e in kept}

    half, half_stats = build_eft(items, judged, keep_fraction=0.25, seed=0)
    assert half_stats["score_hist_after"][4.0] == 5
    assert [e for e in half if e["score"] != 4.0] == [e for e in kept if e["score"] != 4.0]

    # Nothing to re-balance when score 4 is not the most common.
    few = {k: _judge(5, 3) for k in judged}
    _, few_stats = build_eft(items, few)
    assert few_stats["score_hist_before"] == few_stats["score_hist_after"]


def test_build_eft_reports_a_shortfall_against_its_target(caplog) -> None:
    items, judged = _skewed()
    _, stats = build_eft(items, judged, seed=0)
    assert "shortfall" not in stats  # no target, nothing checked
    with caplog.at_level(logging.WARNING, logger="srlm"):
        _, stats = build_eft(items, judged, seed=0, target=40)
    assert (stats["target"], stats["shortfall"]) == (40, 8)  # 32 kept
    assert "EFT: 32 training examples kept, 8 short of the target 40" in caplog.text
    _, stats = build_eft(items, judged, seed=0, target=10)
    assert stats["shortfall"] == 0


# ---------------------------------------------------------------------------------------------
# Separate training and evaluation sides (data.eval_source)
# ---------------------------------------------------------------------------------------------


def test_real_validation_as_the_evaluation_side(oasst_val: list[dict]) -> None:
    """OASST1 validation taken whole as the eval side: the paper's 541 ranked replies."""
    side = build_oasst_eval(oasst_val)
    ranked = side["ranked_eval"]
    assert len(ranked) == 186
    assert ranked_replies(ranked) == 541  # the paper's EFT-eval size (v2)
    assert sum(len(i["responses"]) * (len(i["responses"]) - 1) // 2 for i in ranked) == 531
    # IFT-test prompts: every first-turn prompt with a rank-0 reply (2 of the 188 roots have none).
    assert len(side["eval_prompts"]) == 186
    assert {p["id"] for p in side["eval_prompts"]} == {i["prompt_id"] for i in ranked}
    assert build_oasst_eval(list(reversed(oasst_val))) == side  # hash order, not row order


def _oasst_cfg(source: Path, **over) -> dict:
    cfg = {
        "kind": "oasst",
        "source": str(source),
        "split": "train",
        "eval_source": None,
        "eval_split": "validation",
        "seed": 0,
        "lang": "en",
        "eval_fraction": 0.25,
        "ift_disjoint_from_ranked": True,
        "ift_share": 1.0,
        "max_ift": 60,
        "drop_deleted": True,
        "require_review": True,
        "targets": {"ift": None, "eval_replies": None},
        "eft": {"target": None},
        "eval_prompts_source": None,
        "alpaca_eval_source": None,
        "max_eval_prompts": 256,
    }
    return {**cfg, **over}


def test_eval_source_gives_the_whole_eval_side_and_the_log_names_the_roles(
    tmp_path: Path, caplog
) -> None:
    from srlm.stages.seed import build_seed_data

    train = write_jsonl(tmp_path / "train.jsonl", _many_trees(100))
    evals = [
        {
            **m,
            "message_id": "e" + m["message_id"],
            "parent_id": m["parent_id"] and "e" + m["parent_id"],
        }
        for m in _many_trees(30)
    ]
    for m in evals:  # other questions than the training side's
        m["text"] = m["text"].replace("Question", "Eval question")
    evals_file = write_jsonl(tmp_path / "eval.jsonl", evals)

    with caplog.at_level(logging.INFO, logger="srlm"):
        data = build_seed_data(_oasst_cfg(train, eval_source=str(evals_file)))
    assert len(data["ranked_eval"]) == 30 and ranked_replies(data["ranked_eval"]) == 90
    assert len(data["eval_prompts"]) == 30
    assert {i["prompt_id"] for i in data["ranked_eval"]} == {f"ep{i:03d}" for i in range(30)}
    # The whole training file is the training side: IFT first (max_ift 60), the rest EFT-train.
    assert len(data["ift"]) == 60 and len(data["ranked_train"]) == 40
    assert f"oasst roles: {train} -> IFT + EFT-train (ranked_train); {evals_file} -> ranked" in (
        caplog.text
    )

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="srlm"):
        carved = build_seed_data(_oasst_cfg(train))
    assert carved["ranked_eval"] and {i["prompt_id"] for i in carved["ranked_eval"]} < {
        f"p{i:03d}" for i in range(100)
    }
    assert "carved out of it (data.eval_fraction=0.25)" in caplog.text


def test_one_file_as_both_sides_leaks_nothing(tmp_path: Path, caplog) -> None:
    from srlm.stages.seed import build_seed_data

    source = write_jsonl(tmp_path / "oasst.jsonl", _many_trees(20))
    cfg = _oasst_cfg(source, eval_source=str(source), max_ift=5)
    with caplog.at_level(logging.WARNING, logger="srlm"):
        data = build_seed_data(cfg)
    assert data["ranked_eval"] == [] and data["eval_prompts"] == []
    # 5 IFT prompts (matched by text) and 15 ranked training sets (by id): all 20 trees.
    assert "20 ranked eval sets and 20 eval prompts" in caplog.text
    # The same question in another tree is a leak too (matched by text).
    side = {"ranked_eval": [_item("x", 2)], "eval_prompts": [{"id": "y", "prompt": " prompt  X"}]}
    kept, dropped = drop_overlap(side, {"ift": [{"prompt": "Prompt x"}], "ranked_train": []})
    assert kept == {"ranked_eval": [], "eval_prompts": []}
    assert dropped == {"ranked_eval": 1, "eval_prompts": 1}


def test_a_shortfall_against_a_target_is_warned_and_logged(tmp_path: Path, caplog) -> None:
    from srlm.stages.seed import build_seed_data, seed_report

    source = write_jsonl(tmp_path / "oasst.jsonl", _many_trees(40))
    cfg = _oasst_cfg(
        source,
        max_ift=20,
        targets={"ift": 3200, "eval_replies": 541},
        eft={"target": 1630},
    )
    data = build_seed_data(cfg)
    with caplog.at_level(logging.WARNING, logger="srlm"):
        metrics = seed_report(cfg, data)
    n_eval = ranked_replies(data["ranked_eval"])
    assert metrics["seed/ift_shortfall"] == 3200 - 20
    assert metrics["seed/ranked_eval_replies"] == n_eval
    assert metrics["seed/ranked_eval_replies_shortfall"] == 541 - n_eval
    train_replies = ranked_replies(data["ranked_train"])
    assert metrics["seed/ranked_train_replies_shortfall"] == 1630 - train_replies
    assert "seed data: 20 IFT examples, 3180 short of the target 3200 (data.targets.ift)" in (
        caplog.text
    )
    assert "(data.targets.eval_replies)" in caplog.text and "(data.eft.target)" in caplog.text

    met = seed_report({**cfg, "targets": {"ift": 20, "eval_replies": None}, "eft": {}}, data)
    assert met["seed/ift_shortfall"] == 0 and "seed/ranked_eval_replies_shortfall" not in met


def test_real_validation_as_the_eval_side_of_the_seed_stage(
    oasst_val: list[dict], tmp_path: Path
) -> None:
    """A training file of one's own plus the shared validation file as data.eval_source."""
    from srlm.stages.seed import build_seed_data, seed_report

    train = write_jsonl(tmp_path / "train.jsonl", _many_trees(50))
    cfg = _oasst_cfg(train, eval_source=str(OASST_VAL), targets={"ift": None, "eval_replies": 541})
    data = build_seed_data(cfg)
    assert ranked_replies(data["ranked_eval"]) == 541 and len(data["eval_prompts"]) == 186
    assert seed_report(cfg, data)["seed/ranked_eval_replies_shortfall"] == 0
