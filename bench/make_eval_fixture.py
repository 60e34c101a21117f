"""Regenerate fixtures/eval_kitchenham.csv from the full Kitchenham 2010 screening data.

    uv run python bench/make_eval_fixture.py

Takes every record labelled ``yes`` and 255 of the ``no`` records, sampled
with ``random.Random(2010)``, keeps them in the source file's order and
columns, and writes them as UTF-8. Running it twice gives the same bytes.
See fixtures/eval_kitchenham.README.md.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "kitchenham_2010" / "Kitchenham.csv"
TARGET = ROOT / "fixtures" / "eval_kitchenham.csv"
NEGATIVES = 255
SEED = 2010


# Bytes that Windows-1252 leaves undefined but the source uses as DOS code page
# 850 letters, only in author names and affiliations ("J\x81rgen M\x81nch",
# "UME\x8f"): spelled as the Windows-1252 bytes of the same letters.
_DOS_LETTERS = {b"\x81": b"\xfc", b"\x8f": b"\xc5"}  # u-umlaut, A-ring


def decode_like_the_reader(raw: bytes) -> str:
    """UTF-8, and any line that is not UTF-8 as Windows-1252, as scorer.io._readers reads it.

    The one difference: the reader turns the DOS letters above into U+FFFD;
    here they become the letters. Titles and abstracts come out the same.
    """
    lines = []
    for line in raw.removeprefix(b"\xef\xbb\xbf").splitlines(keepends=True):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            for dos, windows in _DOS_LETTERS.items():
                line = line.replace(dos, windows)
            lines.append(line.decode("cp1252", errors="replace"))
    return "".join(lines)


def loadable(row: dict[str, str]) -> bool:
    """The reader skips records without a title or an abstract."""
    return bool(row["Document Title"].strip() and row["Abstract"].strip())


def fixture_text(source: Path = SOURCE) -> tuple[str, str]:
    """The fixture's CSV text, and a one-line account of what it holds."""
    text = decode_like_the_reader(source.read_bytes())
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = list(reader.fieldnames or [])
    rows = list(reader)
    positives = [i for i, row in enumerate(rows) if row["label"] == "yes"]
    unloadable = [i for i in positives if not loadable(rows[i])]
    if unloadable:
        raise SystemExit(f"positives without a title or abstract at rows {unloadable}")
    pool = [i for i, row in enumerate(rows) if row["label"] == "no" and loadable(row)]
    negatives = random.Random(SEED).sample(pool, NEGATIVES)
    chosen = sorted([*positives, *negatives])

    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[i] for i in chosen)
    left_out = sum(1 for row in rows if row["label"] == "no" and not loadable(row))
    account = (
        f"{len(chosen)} records ({len(positives)} yes, {len(negatives)} no) from {len(rows)} "
        f"({left_out} 'no' records without an abstract left out of the sample pool)"
    )
    return out.getvalue(), account


def main() -> int:
    text, account = fixture_text()
    TARGET.write_text(text, encoding="utf-8", newline="")
    print(f"{TARGET.relative_to(ROOT)}: {account}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
