"""``judge.template``: a packaged name, a file path or inline text; ``Judge.text`` / ``source``."""

import pickle

import pytest
from conftest import REPO
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

import srlm.config  # noqa: F401  (registers the config schema)
from srlm.judges import Judge, load_prompt, packaged_prompts, resolve_template

MINE = "Judge this.\nQ: <INSTRUCTION_HERE>\nA: <RESPONSE_HERE>\nEnd with Score: N"


def test_packaged_name():
    judge = Judge(template="judge_additive5")
    assert judge.text == load_prompt("judge_additive5")
    assert judge.source == "packaged judge_additive5"
    assert "judge_additive5" in packaged_prompts()


@pytest.mark.parametrize("form", ["absolute", "home", "relative", "dot", "subdir"])
def test_file_path(form, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    name = {
        "absolute": "j.txt",
        "home": "j.txt",
        "relative": "j.txt",
        "dot": "j",
        "subdir": "sub/j",
    }
    path = tmp_path / name[form]
    path.write_text(MINE + "\n", encoding="utf-8")  # an editor's final newline is stripped
    template = {
        "absolute": str(path),
        "home": "~/j.txt",
        "relative": "j.txt",
        "dot": "./j",
        "subdir": "sub/j",
    }[form]
    judge = Judge(template=template)
    assert judge.text == MINE
    assert judge.source == f"file {path}"
    assert judge.render("2+2?", "4") == "Judge this.\nQ: 2+2?\nA: 4\nEnd with Score: N"


def test_inline_text():
    judge = Judge(template=MINE)
    assert (judge.text, judge.source) == (MINE, "inline")
    one_line = "Q: <INSTRUCTION_HERE> A: <RESPONSE_HERE>"  # no newline: the placeholders tell
    assert Judge(template=one_line).source == "inline"
    with pytest.raises(ValueError, match="inline.*no placeholder '<RESPONSE_HERE>'"):
        Judge(template="Rate it:\n<INSTRUCTION_HERE>")


def test_bare_name_is_never_a_file(tmp_path, monkeypatch):
    """A bare name means a packaged prompt, whatever files the current directory holds."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "judge_additive5").write_text(MINE, encoding="utf-8")
    (tmp_path / "my_judge").write_text(MINE, encoding="utf-8")
    assert Judge(template="judge_additive5").source == "packaged judge_additive5"
    with pytest.raises(FileNotFoundError, match="'my_judge'.*judge_additive5"):
        Judge(template="my_judge")
    assert Judge(template="./my_judge").text == MINE


@pytest.mark.parametrize("template", ["/nonexistent/my_judge.txt", "~/nope.txt", "judge_nope"])
def test_missing_template_fails_in_one_line(template, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        Judge(template=template)
    message = str(err.value)
    assert "\n" not in message
    assert repr(template) in message
    assert all(name in message for name in packaged_prompts())


def test_directory_and_empty_template_fail(tmp_path):
    with pytest.raises(FileNotFoundError, match="is a directory"):
        resolve_template(str(tmp_path))
    with pytest.raises(ValueError, match="non-empty"):
        Judge(template="")


def test_placeholders_checked_in_files(tmp_path):
    path = tmp_path / "j.txt"
    path.write_text("Q: <INSTRUCTION_HERE>\nno response slot", encoding="utf-8")
    with pytest.raises(ValueError, match=f"file {path}.*<RESPONSE_HERE>"):
        Judge(template=str(path))
    with pytest.raises(ValueError, match="two different strings"):
        Judge(template=MINE, response_placeholder="<INSTRUCTION_HERE>")


def test_editing_the_file_changes_the_text(tmp_path):
    """The store key hashes ``Judge.text``: a changed file must give a changed text."""
    path = tmp_path / "j.txt"
    path.write_text(MINE, encoding="utf-8")
    before = Judge(template=str(path))
    path.write_text(MINE.replace("Judge this.", "Judge this strictly."), encoding="utf-8")
    after = Judge(template=str(path))
    assert before.template == after.template
    assert before.text != after.text
    assert before.text == MINE  # read once, at construction


def test_pickle_carries_the_text(tmp_path):
    path = tmp_path / "j.txt"
    path.write_text(MINE, encoding="utf-8")
    judge = Judge(template=str(path), parse_policy="first")
    path.unlink()  # unpickling must not need the file again
    copy = pickle.loads(pickle.dumps(judge))
    assert copy == judge
    assert (copy.text, copy.source) == (judge.text, judge.source)
    assert copy.render("a", "b") == judge.render("a", "b")
    assert copy.parse("**Score:** 4\nScore: 2") == 4.0


@pytest.mark.parametrize("form", ["absolute", "home"])
def test_hydra_override_with_a_path(form, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "my_judge.txt"
    path.write_text(MINE, encoding="utf-8")
    value = {"absolute": str(path), "home": '"~/my_judge.txt"'}[form]  # the grammar wants ~ quoted
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["judge=additive5", f"judge.template={value}"])
    judge = instantiate(cfg.judge)
    assert isinstance(judge, Judge)
    assert (judge.text, judge.source) == (MINE, f"file {path}")
