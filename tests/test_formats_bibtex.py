"""BibTeX (EndNote- and Zotero-shaped) through `scorer batch` to scored RIS and BibTeX."""

from __future__ import annotations

from pathlib import Path

import rispy
from bibtexparser.entrypoint import parse_string
from bibtexparser.middlewares import LatexDecodingMiddleware
from in_process import run_scorer

from scorer.testing import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[1]
ENDNOTE = ROOT / "fixtures" / "screening_endnote.bib"
RUBRIC = "se-literature-reviews"

# Zotero's export: CRLF, a BOM, a macro month, several DOIs, no abstract in one
# entry, a brace left open in another (a damaged file).
ZOTERO_BIB = (
    "\ufeff@article{wohlin_guidelines_2014,\r\n"
    "\ttitle = {Guidelines for snowballing in systematic literature studies},\r\n"
    "\tauthor = {Wohlin, Claes},\r\n"
    "\tdoi = {10.1145/2601248.2601268, 10.9999/extra},\r\n"
    "\tabstract = {Snowballing finds studies through the references\r\n"
    "\t\tof the studies found so far.},\r\n"
    "\tmonth = may,\r\n"
    "\tyear = {2014},\r\n"
    "\tnote = {Zotero note},\r\n"
    "}\r\n\r\n"
    "@article{no_abstract_2001,\r\n\ttitle = {Only a title},\r\n\tyear = {2001},\r\n}\r\n\r\n"
    "@article{broken_2002,\r\n\ttitle = {An open brace,\r\n\tyear = {2002},\r\n\r\n"
    "@article{last_2003,\r\n\ttitle = {Still read},\r\n\tabstract = {After the damage.},\r\n}\r\n"
)


def run(args: list[str], fake: FakeOpenAI, cache: Path) -> tuple[int, str]:
    env = {"OPENAI_BASE_URL": fake.base_url, "SCORER_CACHE_DIR": str(cache)}
    done = run_scorer(args, env=env)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stderr


def parse_bib(path: Path) -> dict[str, dict[str, str]]:
    library = parse_string(
        path.read_text(encoding="utf-8"), append_middleware=[LatexDecodingMiddleware()]
    )
    assert not library.failed_blocks
    return {e.key: {f.key.lower(): f.value for f in e.fields} for e in library.entries}


def test_endnote_bibtex_to_scored_ris_and_bibtex(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    fake.answer_when("recommended EBSE method", Reply(json_override={"relevance": 95}))
    ris, bib = tmp_path / "screened.ris", tmp_path / "screened.bib"

    code, err = run(
        ["batch", str(ENDNOTE), "-r", RUBRIC, "-o", str(ris), "-o", str(bib)], fake, isolated_env
    )

    assert code == 0, err
    entries = {e["title"]: e for e in rispy.loads(ris.read_text(encoding="utf-8"))}
    cafe = entries["Café menus as a benchmark for 50% of parsers"]  # LaTeX decoded
    assert cafe["authors"] == ["Müller, Jörg", "Simon and Schuster"]
    slr = entries[
        "Systematic literature reviews in software engineering \u2013 A systematic"
        " literature review"
    ]
    assert slr["authors"][1] == "Brereton, Pearl"
    assert slr["doi"] == "10.1016/j.infsof.2008.09.009"
    assert slr["keywords"] == [
        "Systematic literature review",
        "Evidence-based software engineering",
    ]
    assert slr["notes"][0].startswith("scorer: relevance 095/100;")

    again = parse_bib(bib)
    original = parse_bib(ENDNOTE)
    for key, fields in original.items():
        for name, value in fields.items():
            if name in ("abstract", "keywords", "author"):
                continue  # one line now, and ", "-separated: compared below
            assert again[key][name] == value, (key, name)
        assert again[key]["note"].startswith("scorer: relevance ")
    assert 'author = {M\\"uller, J\\"org and {Simon and Schuster}}' in bib.read_text("utf-8")
    assert again["RN12"]["keywords"] == original["RN12"]["keywords"].replace(";", ",")
    assert " ".join(original["RN12"]["abstract"].split()) == again["RN12"]["abstract"]


def test_zotero_bibtex_quirks_and_damage_are_reported_per_entry(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "zotero.bib"
    source.write_bytes(ZOTERO_BIB.encode("utf-8"))
    out = tmp_path / "out.bib"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 1
    assert "skipped: entry 2 ('Only a title'): missing abstract" in err
    assert "skipped: entry 3: not valid BibTeX" in err
    assert "scored 2" in err
    scored = parse_bib(out)
    assert set(scored) == {"wohlin_guidelines_2014", "last_2003"}
    wohlin = scored["wohlin_guidelines_2014"]
    assert wohlin["abstract"] == (
        "Snowballing finds studies through the references of the studies found so far."
    )
    assert wohlin["doi"] == "10.1145/2601248.2601268 10.9999/extra"
    assert wohlin["month"] == "may"
    assert wohlin["note"].startswith("scorer: ") and wohlin["note"].endswith("\n\nZotero note")

    digest = tmp_path / "digest.md"
    code, err = run(
        ["digest", str(out), "-r", RUBRIC, "-o", str(digest), "--threshold", "0"],
        fake,
        isolated_env,
    )
    assert code == 0, err
    assert "out of **2** total scanned" in digest.read_text(encoding="utf-8")


def test_a_title_cannot_break_out_of_its_bibtex_field(
    fake: FakeOpenAI, isolated_env: Path, tmp_path: Path
) -> None:
    source = tmp_path / "papers.jsonl"
    evil = "Evil} , note = {pwned}}\\n@article{x, title={injected}"
    source.write_text(f'{{"title": "{evil}", "abstract": "50% & $x$"}}\n', encoding="utf-8")
    out = tmp_path / "out.bib"

    code, err = run(["batch", str(source), "-r", RUBRIC, "-o", str(out)], fake, isolated_env)

    assert code == 0, err
    [entry] = parse_bib(out).values()
    assert entry["title"] == "Evil} , note = {pwned}} @article{x, title={injected}"
    assert entry["abstract"] == "50% & $x$"
    assert entry["note"].startswith("scorer: ")
