"""Summarise a mutmut run per module: mutants, killed, survived, timeout, score.

    .venv/bin/python scripts/mutation_report.py            # the table (after `make mutation`)
    .venv/bin/python scripts/mutation_report.py --survivors  # also every surviving mutant's name

Reads the result files mutmut 3 leaves beside the mutated copies (``mutants/<path>.meta``)
for the modules listed in ``[tool.mutmut] only_mutate`` of pyproject.toml. The score is
(killed + timeout) / checked mutants; a mutant that no selected test runs counts as a
survivor ("no tests"). Mutants left unchecked (an interrupted run) are reported, not scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# mutmut's exit codes (mutmut/stats.py): what each means for the table
KILLED = {1, 3, 37}  # a test failed, pytest reported an internal error, the type check caught it
SURVIVED = {0}
NO_TESTS = {5, 33}
TIMEOUT = {36, 24, -24, 152, 255}
SKIPPED = {34}
NOT_CHECKED = {None}


def module_results(path: str) -> dict[str, int | None] | None:
    meta = ROOT / "mutants" / f"{path}.meta"
    if not meta.is_file():
        return None
    return json.loads(meta.read_text())["exit_code_by_key"]


def count(codes: dict[str, int | None]) -> dict[str, int]:
    def n(kind: set) -> int:
        return sum(code in kind for code in codes.values())

    row = {"killed": n(KILLED), "survived": n(SURVIVED), "no tests": n(NO_TESTS), "timeout": n(TIMEOUT),
           "not checked": n(NOT_CHECKED), "skipped": n(SKIPPED)}  # fmt: skip
    known = sum(row.values())
    row["other"] = len(codes) - known  # segfaults and mutmut's "suspicious": neither killed nor survived
    row["mutants"] = len(codes) - row["not checked"] - row["skipped"]
    return row


def score(row: dict[str, int]) -> str:
    return f"{100 * (row['killed'] + row['timeout']) / row['mutants']:.1f}%" if row["mutants"] else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="list every surviving mutant")
    args = parser.parse_args()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    columns = ["mutants", "killed", "survived", "no tests", "timeout", "other"]
    header = f"| {'module':<28} | " + " | ".join(f"{c:>8}" for c in columns) + " |    score |"
    print(header)
    print("|" + "|".join("-" * len(cell) for cell in header.strip("|").split("|")) + "|")
    total = dict.fromkeys(columns + ["not checked", "skipped"], 0)
    survivors = []
    for path in config["only_mutate"]:
        codes = module_results(path)
        if codes is None:
            print(f"| {path:<28} | " + " | ".join(f"{'-':>8}" for _ in columns) + f" | {'not run':>8} |")
            continue
        row = count(codes)
        for key in total:
            total[key] += row[key]
        print(f"| {path:<28} | " + " | ".join(f"{row[c]:>8}" for c in columns) + f" | {score(row):>8} |")
        survivors += [name for name, code in codes.items() if code in SURVIVED | NO_TESTS]
    print(f"| {'all':<28} | " + " | ".join(f"{total[c]:>8}" for c in columns) + f" | {score(total):>8} |")
    if total["not checked"]:
        print(f"{total['not checked']} mutants not checked (an interrupted or partial run): not in the score")
    if args.survivors:
        print("\n".join(["", "Survivors (see tests/mutation_survivors.md):"] + sorted(survivors)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
