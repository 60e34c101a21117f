from pathlib import Path

import pytest

from scorer import Rubric, RubricError, builtin_rubric_names, load_rubric
from scorer._rubric import parse_rubric, rubric_fingerprint

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed_digest.md"
PREFIX = "Automatically discovered papers scored for relevance to: "

GOOD = """
name = "my-topic"
title = "My topic"
description = "Papers about my topic."
threshold = 60

[[dimensions]]
name = "relevance"
description = "How on-topic."
[dimensions.scale]
0 = "Off topic."
100 = "On topic."
"""


def write(tmp_path: Path, text: str, name: str = "my-topic.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtins_load_and_include_three_fields() -> None:
    names = builtin_rubric_names()
    assert "llm-inference" in names and len(names) >= 3
    for name in names:
        rubric = load_rubric(name)
        assert rubric.name == name
        assert rubric.dimensions and all(d.scale for d in rubric.dimensions)


def test_llm_inference_matches_the_seed_digest() -> None:
    rubric = load_rubric("llm-inference")
    lines = SEED.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"# {rubric.title}"
    assert lines[2] == PREFIX + rubric.description
    assert rubric.threshold == 70
    assert [d.name for d in rubric.dimensions] == ["relevance", "hype"]


def test_load_from_path_and_defaults(tmp_path: Path) -> None:
    rubric = load_rubric(write(tmp_path, GOOD))
    assert rubric.threshold == 60 and rubric.primary.name == "relevance"
    assert rubric.primary.display == "Relevance"
    assert load_rubric(str(write(tmp_path, GOOD))) == rubric
    assert load_rubric(rubric) is rubric


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    text = GOOD.replace('name = "my-topic"\n', "")
    assert load_rubric(write(tmp_path, text, "other-name.toml")).name == "other-name"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("threshold = 60", "threshold = 150"), "threshold"),
        (("threshold = 60", "treshold = 60"), "treshold"),
        (('0 = "Off topic."', '150 = "Off topic."'), "dimensions.0.scale"),
        (('name = "relevance"', 'name = "Relevance!"'), "dimensions.0.name"),
        (('description = "Papers about my topic."', 'description = ""'), "description"),
    ],
)
def test_broken_rubric_names_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    assert str(path) in str(info.value)
    assert f"'{field}" in str(info.value)
    assert info.value.field is not None and info.value.field.startswith(field)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\nthis is not toml\n")
    with pytest.raises(RubricError, match="not valid TOML") as info:
        load_rubric(path)
    assert str(path) in str(info.value)


def test_examples_must_score_every_dimension(tmp_path: Path) -> None:
    text = GOOD + (
        '\n[[examples]]\ntitle = "t"\nabstract = "a"\njustification = "j"\n'
        "[examples.scores]\nhype = 5\n"
    )
    with pytest.raises(RubricError, match=r"examples\.0\.scores"):
        load_rubric(write(tmp_path, text))


@pytest.mark.parametrize("name", ["nope", "../../etc/passwd", "..", "LLM Inference"])
def test_unknown_or_unsafe_names(name: str) -> None:
    with pytest.raises(RubricError):
        load_rubric(name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RubricError, match="no such rubric file"):
        load_rubric(tmp_path / "absent.toml")


def test_fingerprint_tracks_what_changes_scoring() -> None:
    base = load_rubric("llm-inference")
    same = base.model_copy(update={"threshold": 10, "name": "renamed"})
    assert rubric_fingerprint(same) == base.fingerprint
    changed = Rubric.model_validate({**base.model_dump(), "description": "Something else."})
    assert changed.fingerprint != base.fingerprint
    assert len(base.fingerprint) == 16


@pytest.mark.parametrize("name", ["justification", "model_dump", "model_config", "json", "copy"])
def test_dimension_names_that_would_shadow_the_answer_model_are_refused(name: str) -> None:
    data = {
        "name": "x",
        "title": "X",
        "description": "Papers about X.",
        "dimensions": [{"name": name, "description": "How X the paper is."}],
    }
    with pytest.raises(RubricError, match=f"'{name}' is reserved"):
        parse_rubric(data)
