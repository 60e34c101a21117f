"""Agreement with human labels, per scoring method (prints a Markdown table; not a test).

    uv run python bench/eval_methods.py [--data fixtures/eval_kitchenham.csv]
        [--rubric se-literature-reviews] [--methods generate,logprob,samples=3]
        [--sample N]

Runs ``scorer eval --json`` once per method on the embedded model (or on
whatever OPENAI_BASE_URL / OPENAI_API_KEY point at), each with an empty cache
of its own, and prints one row per method plus the TF-IDF baseline: ROC-AUC,
average precision, recall at the rubric's threshold, the share of papers a
human still reads at 95% recall, tokens per paper and seconds per paper.

``--sample N`` scores a subset for a quicker comparison on a slow machine:
N/2 relevant and N/2 irrelevant rows, evenly spaced through the file (ROC-AUC
does not depend on the share of relevant papers; average precision does).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def balanced_sample(data: str, size: int, out: Path) -> str:
    """Write ``size`` rows of ``data`` (half labelled yes, half no, evenly spaced) to ``out``."""
    with (ROOT / data).open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        fields = list(reader.fieldnames or [])
    picked = []
    for label in ("yes", "no"):
        group = [r for r in rows if r.get("label", "").strip().lower() == label]
        step = max(len(group) / max(size // 2, 1), 1.0)
        picked += [group[int(i * step)] for i in range(min(size // 2, len(group)))]
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(picked)
    return str(out)


def run(data: str, rubric: str, method: str, cache: Path) -> tuple[dict[str, object], float]:
    cmd = [sys.executable, "-m", "scorer", "eval", data, "-r", rubric, "--json"]
    cmd += ["--method", method, "--concurrency", "4"]
    env = {**os.environ, "SCORER_CACHE_DIR": str(cache)}
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"scorer eval --method {method} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout), wall


def row(name: str, report: dict[str, object], papers: int, wall: float | None) -> str:
    def num(key: str) -> str:
        value = report.get(key)
        return "n/a" if value is None else f"{value:.3f}"  # type: ignore[str-format]

    screened = report.get("screened_at_95_recall")
    tokens = (int(report["tokens_prompt"]) + int(report["tokens_completion"])) / max(papers, 1)  # type: ignore[call-overload]
    per_paper = "-" if wall is None else f"{wall / max(papers, 1):.2f}"
    shown = "n/a" if screened is None else f"{100 * float(screened):.0f}%"  # type: ignore[arg-type]
    return (
        f"| {name} | {num('auc')} | {num('average_precision')} | {num('recall_at_threshold')} "
        f"| {shown} | {tokens:.0f} | {per_paper} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fixtures/eval_kitchenham.csv")
    parser.add_argument("--rubric", default="se-literature-reviews")
    parser.add_argument("--methods", default="generate,logprob,samples=3")
    parser.add_argument("--sample", type=int, help="score N rows (half relevant), not all")
    args = parser.parse_args()
    sample = f", balanced sample of {args.sample} rows" if args.sample else ""
    print(f"data: {args.data}{sample}, rubric: {args.rubric}\n")
    print(
        "| method | ROC-AUC | avg precision | recall at threshold | read for 95% recall "
        "| tokens/paper | s/paper |"
    )
    print("|---|---|---|---|---|---|---|")
    baseline_row = None
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if args.sample:
            data = balanced_sample(args.data, args.sample, Path(tmp) / "sample.csv")
        for method in args.methods.split(","):
            out, wall = run(data, args.rubric, method, Path(tmp) / method.replace("=", ""))
            report = out["model"]
            papers = int(out["sent_to_model"])  # type: ignore[call-overload]
            print(row(f"{method} ({report['model']})", report, papers, wall), flush=True)  # type: ignore[arg-type,index]
            baseline_row = row("TF-IDF baseline", out["baseline"], papers, None)  # type: ignore[arg-type]
    print(baseline_row)


if __name__ == "__main__":
    main()
