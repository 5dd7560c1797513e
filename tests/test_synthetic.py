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


def test_checked_answer_marks_each_letter_of_the_answer():
    from srlm.data.synthetic import Task, checked_answer

    copy = Task("copy", ("a", "d", "h", "b"))
    assert checked_answer(copy, "a d h b") == "a+ d+ h+ b+"
    assert checked_answer(copy, "a d f h") == "a+ d+ h- b-"
    assert checked_answer(copy, "Sure! Here is the answer: a d h b. Glad to help!") == (
        "a+ d+ h+ b+"
    )
    assert checked_answer(copy, "a d h b c") == "a+ d+ h+ b+ _-"
    assert checked_answer(copy, "Cats sleep all day.") == "a- d- h- b-"
    assert checked_answer(copy, "") == "a- d- h- b-"


def test_eft_judgment_solves_then_checks_then_scores():
    d = build_synthetic(seed=0, n_ift=10, n_eft=40)
    for r in d["eft"]:
        answer, marks, _, score = r["judgment"].split("\n")
        task = parse_task(r["prompt"])
        assert answer == task.answer
        assert [m[:-1] for m in marks.split()][: len(answer.split())] == answer.split()
        assert ("-" in marks) == (int(r["score"]) < 4)


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


def test_comparison_documents_mark_the_expected_letters_against_the_text():
    from srlm.data.synthetic import checked_answer, pretraining_corpus

    docs = [d for d in pretraining_corpus(0, 400, compare_every=2) if d.startswith("Text: ")]
    assert 150 <= len(docs) <= 200  # every 2nd document, bar the task lists
    kinds = set()
    for doc in docs:
        text_line, expected_line, marks = doc.split("\n")
        text, expected = text_line[len("Text: ") :], expected_line[len("Expected: ") :]
        task = Task("copy", tuple(expected.split()))  # "copy": its answer is the letters given
        assert marks == checked_answer(task, text)
        kinds.add("-" in marks)
        assert "Score" not in doc
    assert kinds == {True, False}  # right texts and wrong ones
    assert not any(d.startswith("Text: ") for d in pretraining_corpus(0, 400))  # off by default
