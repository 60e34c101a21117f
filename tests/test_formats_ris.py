"""RIS through `scorer batch`, `digest` and `eval`, shaped like Zotero's and EndNote's exports."""

from __future__ import annotations

from pathlib import Path

import rispy
from in_process import run_scorer

from scorer.testing import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[1]
ZOTERO = ROOT / "fixtures" / "screening_zotero.ris"
RUBRIC = "se-literature-reviews"
LIST_TAGS = [*rispy.LIST_TYPE_TAGS, "DO"]

# EndNote's export: no BOM, LF, "1." numbering lines, an abstract in N2 over
# several lines, a record without abstract, a tag rispy does not know.
ENDNOTE_RIS = """1.
TY  - JOUR
AU  - Petersen, Kai
AU  - Vakkalanka, Sairam
TI  - Guidelines for conducting systematic mapping studies in software engineering: an update
JO  - Information and Software Technology
N2  - Systematic mapping studies are used to structure a research area.
In this update the guidelines are revised
from the mapping studies published since 2008.
PY  - 2015///
VL  - 64
SP  - 1
EP  - 18
DO  - https://doi.org/10.1016/j.infsof.2015.03.007
XY  - kept by EndNote
LB  - include
ER  -

2.
TY  - JOUR
AU  - Nobody, N.
TI  - A record that lost its abstract
PY  - 2001
ER  -
"""


def run(args: list[str], fake: FakeOpenAI, cache: Path) -> tuple[int, str, str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    done = run_scorer(args, env=env)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def load(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8-sig")
    entries: list[dict[str, object]] = rispy.loads(
        text, list_tags=LIST_TAGS, enforce_list_tags=False
    )
    return entries


def test_zotero_ris_scored_to_ris_keeps_every_field_and_adds_a_sortable_note(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    fake.answer_when("research groups that wrote them", Reply(json_override={"relevance": 91}))
    fake.answer_when("eight instructions", Reply(json_override={"relevance": 7}))
    out = tmp_path / "screened.ris"

    code, _, err = run(["batch", str(ZOTERO), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    assert "scanned 3, unique 3, scored 3" in err
    original = load(ZOTERO)
    scored = sorted(
        load(out), key=lambda e: [str(e["title"]) for e in original].index(str(e["title"]))
    )
    assert len(scored) == 3
    for before, after in zip(original, scored, strict=True):
        notes = after["notes"]
        assert isinstance(notes, list)
        assert notes[1:] == before.pop("notes", [])  # the record's own notes, after scorer's
        assert str(notes[0]).startswith("scorer: relevance ")
        assert "justification: " in str(notes[0])
        for key, value in before.items():
            assert after[key] == value or key == "notes", key  # every field, value for value
    first, second = (scored[i]["notes"] for i in (0, 1))
    assert isinstance(first, list) and isinstance(second, list)
    assert first[0].startswith("scorer: relevance 091/100;")
    assert second[0].startswith("scorer: relevance 007/100;")
    assert "passed yes" in first[0] and "passed no" in second[0]


def test_endnote_ris_quirks_are_read_and_a_bad_record_is_one_line(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "endnote.ris"
    source.write_text(ENDNOTE_RIS, encoding="utf-8")
    out = tmp_path / "out.ris"

    code, _, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 1  # a record was skipped
    assert (
        f"{source}:20: skipped: record 2 ('A record that lost its abstract'): missing abstract"
        in err
    )
    assert "scored 1" in err
    [entry] = load(out)
    assert entry["abstract"] == (
        "Systematic mapping studies are used to structure a research area. In this update "
        "the guidelines are revised from the mapping studies published since 2008."
    )
    assert entry["doi"] == ["10.1016/j.infsof.2015.03.007"]
    assert entry["unknown_tag"] == {"XY": ["kept by EndNote"]}
    assert entry["journal_name"] == "Information and Software Technology"
    assert entry["year"] == "2015"
    prompt = fake.requests[0]["messages"][-1]["content"]
    assert "revised from the mapping studies" in prompt


def test_a_file_that_is_not_ris_is_one_clear_line(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "notes.ris"
    source.write_text("title,abstract\nA,B\n", encoding="utf-8")

    code, _, err = run(["batch", str(source), "-r", RUBRIC], fake, isolated_env)

    assert code == 2
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith("no RIS record (no line starts with 'TY  - '); is it RIS?")
    )
    assert fake.count == 0


def test_a_record_cut_short_is_reported_and_the_others_are_scored(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    text = ZOTERO.read_text(encoding="utf-8-sig")
    source = tmp_path / "cut.ris"
    source.write_text(text[: text.rindex("ER  -")], encoding="utf-8")

    code, out, err = run(["batch", str(source), "-r", RUBRIC], fake, isolated_env)

    assert code == 1
    assert "record 3: no ER line (the file ends first; cut short?)" in err
    assert len(out.splitlines()) == 2


def test_a_title_cannot_end_a_record_in_the_output(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "papers.jsonl"
    source.write_text(
        '{"title": "Evil\\nER  - \\nTY  - JOUR\\nTI  - injected", "abstract": "A\\r\\nB"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.ris"

    code, _, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    [entry] = load(out)
    assert entry["title"] == "Evil ER - TY - JOUR TI - injected"
    assert entry["abstract"] == "A B"


def test_digest_and_eval_read_ris(fake: FakeOpenAI, isolated_env: Path, tmp_path: Path) -> None:
    fake.answer_when("research groups that wrote them", Reply(json_override={"relevance": 91}))
    fake.answer_when("eight instructions", Reply(json_override={"relevance": 7}))
    fake.answer_when("which technologies to adopt", Reply(json_override={"relevance": 88}))
    scored, digest = tmp_path / "screened.ris", tmp_path / "top.md"
    assert run(["batch", str(ZOTERO), "-r", RUBRIC, "-o", str(scored)], fake, isolated_env)[0] == 0

    code, _, err = run(["digest", str(scored), "-r", RUBRIC, "-o", str(digest)], fake, isolated_env)

    assert code == 0, err
    text = digest.read_text(encoding="utf-8")
    assert "**2** papers above threshold" in text and "out of **3** total scanned" in text
    assert "**Relevance: 91/100" in text

    # The EndNote "Label" field (LB) holds the human verdict.
    code, out, err = run(["eval", str(ZOTERO), "-r", RUBRIC], fake, isolated_env)
    assert code == 0, err
    assert "ROC AUC" in out
    assert "1.000" in out


def test_an_output_that_is_the_input_is_refused_before_any_model_call(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "library.ris"
    source.write_bytes(ZOTERO.read_bytes())

    code, _, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(source)], fake, isolated_env)

    assert code == 2
    assert "output is the input file" in err
    assert source.read_bytes() == ZOTERO.read_bytes() and fake.count == 0
