#!/usr/bin/env python
"""Apply reviewed label decisions to the NLU training data, keeping the YAML files' layout.

Input: one or more TSV files, one decision per line, three tab-separated fields

    <intent the example has now>  <correct intent, or DELETE>  <example text>

written while reading `benchmarks/nlu_data_check.py`'s list of examples a cross-validated model
labels differently (see docs/nlu-labelling-guide.md for when an example is moved and when it is
deleted). A moved example is taken out of its intent's block and appended to the block of the
new intent in that intent's topic file (not in greeting_then_request.yml unless it only lives
there). Lines are edited as text, so comments and ordering survive.

    .venv/bin/python benchmarks/nlu_relabel.py decisions/*.tsv            # dry run: counts
    .venv/bin/python benchmarks/nlu_relabel.py --apply decisions/*.tsv
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_FILES = [REPO / "data" / "nlu.yml", *sorted((REPO / "data" / "nlu").glob("*.yml"))]
INTENT_HEADER = re.compile(r"^- intent:\s*(\S+)\s*$")
EXAMPLE = re.compile(r"^    - (.*)$")
MIXED_FILE = "greeting_then_request.yml"


def normalise(text: str) -> str:
    return " ".join(text.split())


def read_decisions(paths):
    decisions = {}
    problems = []
    for path in paths:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                problems.append(f"{path}:{number}: expected 3 tab-separated fields")
                continue
            old, new, text = (f.strip() for f in fields)
            decisions[(old, normalise(text))] = new
    return decisions, problems


def with_intents(lines):
    """(intent of the block the line is in, the line, its example text or None) per line."""
    intent = None
    for line in lines:
        header = INTENT_HEADER.match(line)
        if header:
            intent = header.group(1)
        example = EXAMPLE.match(line)
        yield intent, line, (example.group(1) if example and intent else None)


class NluFile:
    def __init__(self, path: Path):
        self.path = path
        self.lines = path.read_text(encoding="utf-8").split("\n")

    def blocks(self):
        """(intent, header line index, index after the last example line) for each block."""
        found = []
        current, start = None, None
        for i, line in enumerate(self.lines):
            m = INTENT_HEADER.match(line)
            if m:
                if current is not None:
                    found.append((current, start, self._block_end(start)))
                current, start = m.group(1), i
        if current is not None:
            found.append((current, start, self._block_end(start)))
        return found

    def _block_end(self, start: int) -> int:
        end = start + 1
        for i in range(start + 1, len(self.lines)):
            if INTENT_HEADER.match(self.lines[i]):
                break
            if EXAMPLE.match(self.lines[i]):
                end = i + 1
        return end

    def save(self) -> None:
        self.path.write_text("\n".join(self.lines), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tsv", nargs="+")
    ap.add_argument("--apply", action="store_true", help="write the files (default: dry run)")
    args = ap.parse_args()

    decisions, problems = read_decisions(args.tsv)
    for p in problems:
        print(p, file=sys.stderr)
    files = [NluFile(p) for p in DATA_FILES]
    known_intents = {intent for f in files for intent, _, _ in f.blocks()}
    bad = {new for new in decisions.values() if new != "DELETE" and new not in known_intents}
    if bad:
        print(f"unknown target intents: {sorted(bad)}", file=sys.stderr)
        return 2

    to_move = {}  # new intent -> [text]
    applied = Counter()
    matched = set()
    for f in files:
        keep = []
        for intent, line, text in with_intents(f.lines):
            if text is not None:
                key = (intent, normalise(text))
                new = decisions.get(key)
                if new is not None and new != intent:
                    matched.add(key)
                    applied["deleted" if new == "DELETE" else "moved"] += 1
                    if new != "DELETE":
                        to_move.setdefault(new, []).append(text.strip())
                    continue
            keep.append(line)
        f.lines = keep

    # Existing texts per intent, so a move never creates a duplicate.
    existing = {}
    for f in files:
        for intent, _, text in with_intents(f.lines):
            if text is not None:
                existing.setdefault(intent, set()).add(normalise(text).lower())

    for new_intent, texts in to_move.items():
        texts = [t for t in dict.fromkeys(texts)
                 if normalise(t).lower() not in existing.get(new_intent, set())]
        applied["duplicates dropped"] += len(to_move[new_intent]) - len(texts)
        home = next((f for f in files if f.path.name != MIXED_FILE
                     and any(i == new_intent for i, _, _ in f.blocks())), None)
        home = home or next(f for f in files if any(i == new_intent for i, _, _ in f.blocks()))
        block = next(b for b in home.blocks() if b[0] == new_intent)
        home.lines[block[2]:block[2]] = [f"    - {t}" for t in texts]

    unmatched = [k for k in decisions if k not in matched and decisions[k] != k[0]]
    print(f"decisions: {len(decisions)}; moved {applied['moved']}, deleted {applied['deleted']}, "
          f"duplicates dropped on move {applied['duplicates dropped']}, not found {len(unmatched)}")
    for old, text in unmatched[:50]:
        print(f"  not found under {old}: {text}")
    if args.apply:
        for f in files:
            f.save()
    else:
        print("dry run: nothing written (use --apply)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
