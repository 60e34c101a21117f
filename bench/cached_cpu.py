"""CPU per paper of an all-cached re-run, in process (prints numbers; not a test).

    uv run python bench/cached_cpu.py [--rows 100000] [--repeat 3] [--outputs csv jsonl md]
                                      [--against DIR] [--profile] [--instructions]

Writes ``--rows`` synthetic papers to a CSV, puts every one in a fresh cache,
then runs what ``scorer batch papers.csv -o out.csv -o out.jsonl -o out.md``
runs after start-up: ``read_input`` (the survey pass and the lazy reader),
``open_sinks`` (staged outputs), ``run_batch`` (with the command's garbage
collection threshold) and the move into place. Each
run is a child process, so imports and start-up stay out of the number:
the child takes its user+sys CPU time (``resource.getrusage``) around that
work only, and its peak RSS.

``--against DIR`` also runs the same child with ``DIR`` (another checkout's
root, e.g. ``git archive <commit> | tar -x -C DIR``) first on ``PYTHONPATH``,
the two taking turns ``--repeat`` times, and prints the ratio: on a machine
shared with other work, CPU seconds and ratios from one run are the numbers
to compare, not wall time.

``--profile`` prints a cProfile of one in-process run (this checkout), by
function and by package.

``--instructions`` counts instead of timing: ``scorer batch`` as a user runs
it (start-up included, ``python -m scorer`` from each checkout's root) under
valgrind's callgrind, over the first 1,000 and the first ``--rows`` rows of
the file; the difference over the extra rows is the instructions per cached
row, start-up taken out. The count does not move with the machine's load (a
CPU second here moved by 20% between identical runs); it takes valgrind
about a minute per 1,000 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RUBRIC = "llm-inference"


def child(source: Path, cache_dir: Path, work: Path, outputs: list[str], profile: bool) -> None:
    """The measured part: as ``scorer batch`` after start-up; prints one JSON line."""
    import scorer
    from scorer import Settings, load_rubric
    from scorer.engine._batch import run_batch
    from scorer.engine._scorer import Scorer
    from scorer.io._batch_outputs import open_sinks, read_input

    rubric = load_rubric(RUBRIC)
    settings = Settings.resolve(base_url="http://127.0.0.1:9/v1", api_key="x", cache_dir=cache_dir)
    paths = [work / f"out.{ext}" for ext in outputs]

    def run() -> tuple[int, float]:
        started = time.perf_counter()
        papers, columns = read_input(source)
        marks.append(resource.getrusage(resource.RUSAGE_SELF))
        with open_sinks(paths, rubric, inputs=[source], input_columns=columns) as out:
            collect_at = gc.get_threshold()
            gc.set_threshold(10_000, *collect_at[1:])  # as scorer batch runs it (batch_cmd.py)
            try:
                summary = asyncio.run(
                    run_batch(papers, rubric, Scorer(settings), sinks=out.sinks, concurrency=64)
                )
            finally:
                gc.set_threshold(*collect_at)
        assert summary.cached == summary.unique, summary
        return summary.cached, time.perf_counter() - started

    marks: list[resource.struct_rusage] = []
    if profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not wall: the machine is shared
        profiler.enable()
        cached, _ = run()
        profiler.disable()
        _print_profile(profiler, cached)
        return
    before = resource.getrusage(resource.RUSAGE_SELF)
    cached, wall = run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    survey = _cpu(marks[0]) - _cpu(before)
    cpu = _cpu(after) - _cpu(before)
    print(
        json.dumps(
            {
                "papers": cached,
                "cpu": cpu,
                "survey": survey,
                "wall": wall,
                "rss": after.ru_maxrss,
                "scorer": str(Path(scorer.__file__).parents[1]),
            }
        )
    )


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def _print_profile(profiler: cProfile.Profile, papers: int) -> None:
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    print(f"profile of {papers} cached papers: {total / papers * 1e6:.1f} us/paper under cProfile")
    by_package: dict[str, float] = {}
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        package = _package_of(filename)
        by_package[package] = by_package.get(package, 0.0) + tottime
    for package, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:16]:
        print(f"  {package:<30} {seconds / total:6.1%}  {seconds / papers * 1e6:6.1f} us/paper")
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)


def _package_of(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if "/scorer/" in filename:
        return "scorer/" + "/".join(filename.split("/scorer/")[-1].split("/")[:2])
    if filename.startswith(("<", "~")) or "/lib/python3" in filename:
        return "python stdlib/builtins"
    return filename


def prepare(work: Path, rows: int) -> tuple[Path, Path]:
    """A CSV of ``rows`` synthetic papers and a cache holding every one of them."""
    sys.path.insert(0, str(BENCH))
    from throughput import fill_cache, write_csv

    from scorer import Settings, load_rubric

    source, cache = work / f"papers{rows}.csv", work / "cache"
    write_csv(source, rows)
    settings = Settings.resolve(base_url="http://127.0.0.1:9/v1", api_key="x", cache_dir=cache)
    fill_cache(cache, rows, load_rubric(RUBRIC), settings)
    return source, cache


def instructions_per_row(root: Path, source: Path, cache: Path, work: Path, rows: int) -> float:
    """Callgrind's instruction count per row of ``scorer batch`` run from ``root``."""
    counts = []
    for n in (1000, rows):
        head = work / f"head{n}.csv"
        with source.open(encoding="utf-8") as f, head.open("w", encoding="utf-8") as out:
            out.writelines(line for _, line in zip(range(n + 1), f, strict=False))
        env = {
            **os.environ,
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "OPENAI_API_KEY": "bench",
            "SCORER_CACHE_DIR": str(cache),
        }
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
        cmd += ["-m", "scorer", "batch", str(head), "-r", RUBRIC, "-o", str(work / "out.csv")]
        done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            sys.exit(f"scorer batch under valgrind failed:\n{done.stderr[-3000:]}")
        counts.append(int(found[1]))
    return (counts[1] - counts[0]) / (rows - 1000)


def run_child(
    root: Path | None, source: Path, cache: Path, work: Path, outputs: list[str]
) -> dict[str, Any]:
    env = dict(os.environ)
    if root is not None:
        env["PYTHONPATH"] = f"{root}{os.pathsep}{env.get('PYTHONPATH', '')}"
    out = work / ("against" if root is not None else "this")
    out.mkdir(exist_ok=True)
    cmd = [sys.executable, __file__, "--child", str(source), str(cache), str(out), *outputs]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"child failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert root is None or result["scorer"] == str(root), result  # the checkout asked for
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("--child", "--child-profile"):
        source, cache, work, *outputs = sys.argv[2:]
        child(Path(source), Path(cache), Path(work), outputs, sys.argv[1] == "--child-profile")
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--outputs", nargs="+", default=["csv"], choices=["csv", "jsonl", "md"])
    parser.add_argument("--against", type=Path, help="another checkout's root, run in turns")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count with callgrind")
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.rows} cached rows -> {', '.join(args.outputs)}; load average {load}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source, cache = prepare(work, args.rows)
        if args.instructions:
            if args.rows <= 1000:
                sys.exit("--instructions needs --rows above 1000 (1,000 rows are subtracted)")
            roots = {"this": BENCH.parent}
            if args.against is not None:
                roots = {"against": args.against.resolve(), **roots}
            per_row = {}
            for name, root in roots.items():
                per_row[name] = instructions_per_row(root, source, cache, work, args.rows)
                print(f"{name:<8} {per_row[name]:9,.0f} instructions per cached row ({root})")
            if "against" in per_row:
                print(f"this / against: {per_row['this'] / per_row['against']:.3f}")
            return
        if args.profile:
            what = [str(source), str(cache), tmp, *args.outputs]
            subprocess.run([sys.executable, __file__, "--child-profile", *what], check=True)
            return
        sides: dict[str, Path | None] = {"this": None}
        if args.against is not None:
            sides = {"against": args.against.resolve(), "this": None}
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.repeat):
            for name, root in sides.items():
                r = run_child(root, source, cache, work, args.outputs)
                us = r["cpu"] / r["papers"] * 1e6
                cpu[name].append(us)
                run_us = (r["cpu"] - r["survey"]) / r["papers"] * 1e6
                print(
                    f"{name:<8} CPU {us:6.1f} us/paper (survey {us - run_us:5.1f}, run_batch "
                    f"{run_us:5.1f}: {1e6 / run_us:6.0f} papers per CPU second), "
                    f"wall {r['wall']:.2f} s, peak RSS {r['rss'] / 1024:.0f} MiB"
                )
        medians = {name: statistics.median(values) for name, values in cpu.items()}
        if "against" in medians:
            print(
                f"median CPU per cached paper: against {medians['against']:.1f} us, "
                f"this {medians['this']:.1f} us: {medians['against'] / medians['this']:.2f}x less"
            )
        else:
            print(f"median CPU per cached paper: {medians['this']:.1f} us")


if __name__ == "__main__":
    main()
