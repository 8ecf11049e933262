"""Helpers shared by the FAQ knowledge-base tests (imported by name: the folder is on sys.path)."""
from __future__ import annotations

import textwrap
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
PROJECT_FAQ = PROJECT_ROOT / "faq"


def write_article(folder: Path, article_id: str, body: str = "Answer text.", **meta) -> Path:
    """Write folder/<id>.md with front matter built from `meta` (YAML-ish, simple values)."""
    lines = ["---", f"id: {article_id}"]
    meta.setdefault("title", f"Title of {article_id}")
    meta.setdefault("source_seed", '"000"')
    for key, value in meta.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"  - {item}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    lines.append("---")
    path = folder / f"{article_id}.md"
    path.write_text("\n".join(lines) + "\n" + textwrap.dedent(body).strip() + "\n", encoding="utf-8")
    return path
