"""Render a benchmark report (markdown) from its results JSON with a Jinja2 template.

The benches measure and write `docs/benchmarks/<name>_results.json`; this module turns such a
file into `docs/benchmarks/<name>.md` with `benchmarks/templates/<name>.md.j2`. Templates get the
results dict's top-level keys as variables and a few formatting filters (see `FILTERS`); a
missing key is an error, not an empty cell.

    .venv/bin/python benchmarks/report.py nlu.md.j2 docs/benchmarks/nlu_results.json docs/benchmarks/nlu.md
    .venv/bin/python benchmarks/report.py faq.md.j2 docs/benchmarks/faq_results.json   # to stdout

From code: `render("speed.md.j2", results) -> str`, `write_report(...)`, `load_results(...)`.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DASH = "—"


def fmt(value: Any, spec: str = ".3f") -> str:
    """`value` with a format spec (default 3 decimals), or a dash for None (a figure that was not
    measured). An undefined value (a key missing from the results) is an error."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return DASH if value is None else format(value, spec)


def dig(value: Any, *path: Any) -> Any:
    """value[path[0]][path[1]]..., or None as soon as a step is missing (for optional parts of
    the results only: a table cell should fail on a missing figure, see `fmt`)."""
    for step in path:
        if value is None:
            return None
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def basename(value: str) -> str:
    return Path(str(value)).name


FILTERS = {"fmt": fmt, "dig": dig, "basename": basename}


def environment(template_dir: Path = TEMPLATE_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(FILTERS)
    env.globals.update({"fmt": fmt, "dig": dig})
    return env


def render(template_name: str, results: Mapping[str, Any],
           template_dir: Path = TEMPLATE_DIR) -> str:
    """The report text `template_name` (a file in benchmarks/templates/) makes of `results`."""
    template = environment(template_dir).get_template(template_name)
    return template.render(dict(results))


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_results(results: Mapping[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def write_report(template_name: str, results: Mapping[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(template_name, results), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("template", help="template file name in benchmarks/templates/")
    ap.add_argument("results", type=Path, help="results JSON")
    ap.add_argument("output", type=Path, nargs="?", help="report file (default: stdout)")
    args = ap.parse_args(argv)
    results = load_results(args.results)
    if args.output is None:
        sys.stdout.write(render(args.template, results))
    else:
        print(f"report: {write_report(args.template, results, args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
