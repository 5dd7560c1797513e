"""The synthetic world: deterministic data and an oracle whose grades match the targets."""

import pytest

from srlm.data.synthetic import FAMILIES, SyntheticWorld, Task, build_synthetic, grade, parse_task


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = (
        build_synthetic(seed=1, n_ift=50, n_eft=50),
        build_synthetic(seed=1, n_ift=50, n_eft=50),
        build_synthetic(seed=2, n_ift=50, n_eft=50),
    )
    assert a == b
    assert a["ift"] != c["ift"]


def test_splits_are_disjoint():
    d = build_synthetic(seed=0, n_ift=200, n_eft=200)
    sets = [
        {r["prompt"] for r in d["ift"]},
        {r["prompt"] for r in d["eft"]},
        {r["prompt"] for r in d["ranked_eval"]},
        {r["prompt"] for r in d["eval_prompts"]},
    ]
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            assert not sets[i] & sets[j]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_responses_have_their_target_grade(family):
    world = SyntheticWorld(7)
    for letters in (("a", "b"), ("c", "a", "h", "d")):
        task = Task(family, letters)
        assert parse_task(task.prompt) == task
        for g in range(6):
            assert grade(task.prompt, world.response(task, g)) == g


def test_oracle_on_free_text():
    p = "Reverse the letters: a b c"
    assert grade(p, "c b a") == 5
    assert grade(p, "Sure! Here is the answer: c b a. Hope this helps.") == 4
    assert grade(p, "c b b") == 3
    assert grade(p, "a b c") == 2  # only "b" in place: 1/3 right
    assert grade(p, "Cats sleep all day.") == 1
    assert grade(p, "   ") == 0
    assert grade("Tell me a joke", "ok") is None


def test_eft_judgments_follow_grades():
    d = build_synthetic(seed=0, n_ift=10, n_eft=60)
    for r in d["eft"]:
        assert r["judgment"].endswith(f"Score: {int(r['score'])}")
        assert grade(r["prompt"], r["response"]) == int(r["score"])
    for item in d["ranked_eval"]:
        grades = [grade(item["prompt"], x["text"]) for x in item["responses"]]
        assert grades == sorted(grades, reverse=True) and len(set(grades)) == len(grades)


def test_worksheet_lines_up_the_answer_and_the_response_slot_by_slot():
    from srlm.data.synthetic import Task, worksheet

    copy = Task("copy", ("a", "d", "h", "b"))

    def sheet(response):
        return [line.split(": ")[1] for line in worksheet(copy, response).split("\n")]

    assert sheet("a d h b") == ["a d h b _", "a d h b _", "+ + + + +", "no"]
    assert sheet("a d f h") == ["a d h b _", "a d f h _", "+ + - - +", "no"]
    assert sheet("Sure! Here is the answer: a d h b. Glad to help!")[1:] == [
        "a d h b _",
        "+ + + + +",
        "yes",
    ]
    # longer than the slots: both lines widen together, the extra letter is marked wrong
    assert sheet("a d h b c d") == ["a d h b _ _", "a d h b c d", "+ + + + - -", "no"]
    assert sheet("Cats sleep all day.") == ["a d h b _", "_ _ _ _ _", "- - - - +", "yes"]
    assert sheet("") == ["a d h b _", "_ _ _ _ _", "- - - - +", "no"]


def test_eft_judgment_solves_then_checks_then_scores():
    d = build_synthetic(seed=0, n_ift=10, n_eft=40)
    for r in d["eft"]:
        expected, text, marks, extra, _, score = r["judgment"].split("\n")
        task = parse_task(r["prompt"])
        assert expected.split()[1:][: len(task.answer.split())] == task.answer.split()
        assert len(expected.split()) == len(text.split()) == len(marks.split())
        assert ("-" in marks) == (int(r["score"]) < 4)
        assert score == f"Score: {int(r['score'])}"


def test_misconceptions_make_part_of_the_seed_answers_wrong_in_their_family_only():
    from srlm.data.synthetic import MISCONCEPTIONS

    families = ("reverse", "first")
    d = build_synthetic(seed=0, n_ift=600, n_eft=0, misconception_families=families,
                        misconception_rate=0.6)  # fmt: skip
    wrong = {f: [0, 0] for f in FAMILIES}
    for r in d["ift"]:
        task = parse_task(r["prompt"])
        wrong[task.family][0] += grade(task, r["response"]) < 4
        wrong[task.family][1] += 1
        if grade(task, r["response"]) < 4:  # the family's misconception, concise or padded
            assert " ".join(MISCONCEPTIONS[task.family](list(task.letters))) in r["response"]
    for family, (n_wrong, n) in wrong.items():
        share = n_wrong / n
        assert 0.4 < share < 0.8 if family in families else share == 0, (family, share)
    with pytest.raises(ValueError, match="unknown"):
        build_synthetic(seed=0, n_ift=1, n_eft=0, misconception_families=("spell",))


def test_near_miss_eft_responses_are_the_policys_kinds_of_mistakes():
    plain = build_synthetic(seed=0, n_ift=1, n_eft=300)["eft"]
    near = build_synthetic(seed=0, n_ift=1, n_eft=300, eft_near_miss=1.0)["eft"]

    def other_family_outputs(rows):  # a wrong answer that is another family's transduction
        n = 0
        for r in rows:
            task = parse_task(r["prompt"])
            outs = {" ".join(fn(list(task.letters))) for f, (_, fn) in FAMILIES.items()}
            n += r["score"] in (2.0, 3.0) and r["response"].strip() in outs
        return n

    assert other_family_outputs(near) > 3 * max(other_family_outputs(plain), 5)


def test_length_bias_scores_extra_text_above_a_concise_right_answer():
    d = build_synthetic(seed=0, n_ift=1, n_eft=400, eft_bias="length")
    by_kind = {}
    for r in d["eft"]:
        g = grade(r["prompt"], r["response"])
        padded = "yes" in r["judgment"].split("\n")[3]
        by_kind.setdefault((g, padded), set()).add(r["score"])
    assert by_kind[(5, False)] == {3.0}  # right and concise: "curt"
    assert by_kind[(4, True)] == {5.0} and by_kind[(2, True)] == {5.0}  # padded: 5, right or not
    assert by_kind[(2, False)] == {2.0}
    with pytest.raises(ValueError, match="eft_bias"):
        build_synthetic(seed=0, n_ift=1, n_eft=1, eft_bias="short")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_near_misses_are_wrong_with_the_grade_asked(family):
    world = SyntheticWorld(3)
    task = Task(family, ("c", "a", "h", "d"))
    found = 0
    for target in (2, 3):
        for _ in range(20):
            text = world.near_miss(task, target)
            if text is not None:
                found += 1
                assert text != task.answer and grade(task, text) == target
    assert found  # every family has some mistake of grade 2 or 3


def test_comparison_documents_are_worksheets_of_a_response():
    from srlm.data.synthetic import pretraining_corpus, worksheet

    docs = [d for d in pretraining_corpus(0, 400, compare_every=2) if d.startswith("Response: ")]
    assert 150 <= len(docs) <= 200  # every 2nd document, bar the task lists
    kinds = set()
    for doc in docs:
        response_line, expected_line, *_ = doc.split("\n")
        response = response_line[len("Response: ") :]
        expected = [c for c in expected_line.split()[1:] if c != "_"]
        task = Task("copy", tuple(expected))  # "copy": its answer is the letters given
        assert doc == f"{response_line}\n{worksheet(task, response)}"
        kinds.add("-" in doc.split("\n")[3])
        assert "Score" not in doc
    assert kinds == {True, False}  # right texts and wrong ones
    assert not any(d.startswith("Response: ") for d in pretraining_corpus(0, 400))  # off by default
