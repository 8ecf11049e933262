"""FAQ articles: one Markdown file per article with YAML front matter.

File layout (see docs/faq.md)::

    ---
    id: card-declined                 # required, equals the file name without .md
    title: Why was my card declined?  # required
    source_seed: "000"                # required: seed(s) the facts come from ("000" or a list)
    client: PERFECT for SMB           # optional: the vendor product it applies to
    team: customer_service            # optional: team that handles follow-ups
    url: https://...                  # optional: the article's own page (shown as its source)
    links:                            # optional: related pages (the first one is the source
                                      # link when there is no url)
      - title: Purchase Lookup
        url: https://support.reseller.example/purchase-lookup
    questions:                        # optional (recommended): phrasings that build the index
      - Why was my credit card declined?
    ---
    Short answer for the chat window, steps numbered.

    ## Email

    Optional longer answer for email replies.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, overload

from supportbot.core.vocabulary import TEAMS

ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SEED_PATTERN = re.compile(r"^\d{3}$")
REQUIRED_FIELDS = ("id", "title", "source_seed")
OPTIONAL_FIELDS = ("client", "team", "url", "links", "questions")
ALLOWED_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
EMAIL_HEADING = re.compile(r"^##\s+email\s*$", re.IGNORECASE | re.MULTILINE)


class FaqError(ValueError):
    """A malformed article (or knowledge-base problem); the message names the file and field."""

    user_facing = True

    def __init__(self, message: str, path: Path | str | None = None, field: str | None = None):
        self.path = Path(path) if path is not None else None
        self.field = field
        prefix = ""
        if path is not None:
            prefix = f"{path}: "
        if field is not None:
            prefix += f"field '{field}': "
        super().__init__(prefix + message)


@dataclass(frozen=True)
class Link:
    title: str
    url: str

    def to_dict(self) -> dict[str, str]:
        return {"title": self.title, "url": self.url}


@dataclass(frozen=True)
class Article:
    """One FAQ article. `answer` is the chat version, `answer_email` the (optional) email one."""

    id: str
    title: str
    answer: str
    answer_email: str | None = None
    links: tuple[Link, ...] = ()
    source_seed: tuple[str, ...] = ()
    client: str | None = None
    questions: tuple[str, ...] = ()
    path: Path | None = field(default=None, compare=False)
    team: str | None = None
    url: str | None = None

    @property
    def link(self) -> str | None:
        """The link shown with the source: the article's own url, else its first link."""
        if self.url:
            return self.url
        return self.links[0].url if self.links else None

    def source_line(self) -> str:
        return f"Source: {self.title} ({self.link})" if self.link else f"Source: {self.title}"

    def format_chat(self) -> str:
        """The chat answer followed by the article it comes from."""
        return f"{self.answer}\n\n{self.source_line()}"

    def format_email(self) -> str:
        """The email answer (or the chat one), the source and every link on its own line."""
        parts = [self.answer_email or self.answer, "", self.source_line()]
        for link in self.links:
            if link.url != self.link:
                parts.append(f"{link.title}: {link.url}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "answer": self.answer,
            "answer_email": self.answer_email,
            "links": [link.to_dict() for link in self.links],
            "source_seed": list(self.source_seed),
            "client": self.client,
            "team": self.team,
            "url": self.url,
            "questions": list(self.questions),
            "path": str(self.path) if self.path else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Article:
        return cls(
            id=data["id"],
            title=data["title"],
            answer=data["answer"],
            answer_email=data.get("answer_email"),
            links=tuple(Link(**link) for link in data.get("links") or ()),
            source_seed=tuple(data.get("source_seed") or ()),
            client=data.get("client"),
            team=data.get("team"),
            url=data.get("url"),
            questions=tuple(data.get("questions") or ()),
            path=Path(data["path"]) if data.get("path") else None,
        )


def _split_front_matter(text: str, path: Path) -> tuple[str, str]:
    text = text.lstrip("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise FaqError("the file must start with a '---' line opening the YAML front matter", path)
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise FaqError("the YAML front matter is not closed by a '---' line", path)


@overload
def _string(value: Any, path: Path, name: str, *, required: Literal[True]) -> str: ...
@overload
def _string(value: Any, path: Path, name: str, *, required: bool) -> str | None: ...


def _string(value: Any, path: Path, name: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise FaqError("missing (required)", path, name)
        return None
    if not isinstance(value, str) or not value.strip():
        raise FaqError(f"must be a non-empty string, got {value!r}", path, name)
    return value.strip()


def _seeds(value: Any, path: Path) -> tuple[str, ...]:
    if value is None:
        raise FaqError('missing (required): the seed number(s) the facts come from, e.g. "000"', path, "source_seed")
    items = value if isinstance(value, list) else [value]
    if not items:
        raise FaqError("must name at least one seed", path, "source_seed")
    seeds = []
    for item in items:
        if isinstance(item, bool):
            item = None
        elif isinstance(item, int):
            item = f"{item:03d}"
        if not isinstance(item, str) or not SEED_PATTERN.match(item.strip()):
            raise FaqError(f'each seed must be a 3-digit string such as "000", got {item!r}', path, "source_seed")
        seeds.append(item.strip())
    return tuple(seeds)


def _url(value: Any, path: Path, name: str) -> str:
    url = _string(value, path, name, required=True)
    if not url.startswith(("https://", "http://", "/")):
        raise FaqError(f"must be an http(s) URL or a site path starting with '/', got {url!r}", path, name)
    return url


def _links(value: Any, path: Path) -> tuple[Link, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FaqError("must be a list of {title, url} mappings", path, "links")
    links = []
    for i, item in enumerate(value):
        where = f"links[{i}]"
        if not isinstance(item, dict):
            raise FaqError(f"must be a mapping with 'title' and 'url', got {item!r}", path, where)
        unknown = set(item) - {"title", "url"}
        if unknown:
            raise FaqError(f"unknown key(s) {sorted(unknown)}; allowed: title, url", path, where)
        title = _string(item.get("title"), path, f"{where}.title", required=True)
        links.append(Link(title=title, url=_url(item.get("url"), path, f"{where}.url")))
    return tuple(links)


def _questions(value: Any, path: Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FaqError("must be a list of strings", path, "questions")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise FaqError(f"must be a non-empty string, got {item!r}", path, f"questions[{i}]")
        out.append(item.strip())
    return tuple(out)


def parse_article(path: Path | str, text: str | None = None) -> Article:
    """Parse and validate one article file; raises FaqError naming the file and field."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise FaqError(f"not UTF-8 text ({exc.reason})", path) from exc
    header, body = _split_front_matter(text, path)
    import yaml  # only when parsing: `faq ask` with an up-to-date index never needs it

    try:
        meta = yaml.safe_load(header)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (front matter line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FaqError(f"invalid YAML front matter{where}: {problem}", path) from exc
    if not isinstance(meta, dict):
        raise FaqError("the front matter must be a YAML mapping (key: value lines)", path)
    unknown = [key for key in meta if key not in ALLOWED_FIELDS]
    if unknown:
        raise FaqError(f"unknown field; allowed fields: {', '.join(ALLOWED_FIELDS)}", path, str(unknown[0]))

    article_id = _string(meta.get("id"), path, "id", required=True)
    if not ID_PATTERN.match(article_id):
        raise FaqError(f"must be lowercase words joined by '-', got {article_id!r}", path, "id")
    if path.suffix == ".md" and article_id != path.stem:
        raise FaqError(f"must equal the file name {path.stem!r}, got {article_id!r}", path, "id")
    title = _string(meta.get("title"), path, "title", required=True)
    team = _string(meta.get("team"), path, "team", required=False)
    if team is not None and team not in TEAMS:
        raise FaqError(f"must be one of {', '.join(TEAMS)}, got {team!r}", path, "team")

    parts = EMAIL_HEADING.split(body, maxsplit=1)
    answer = parts[0].strip()
    if not answer:
        raise FaqError("the chat answer (the Markdown body after the front matter) is empty", path, "answer")
    answer_email = None
    if len(parts) == 2:
        answer_email = parts[1].strip()
        if not answer_email:
            raise FaqError("the '## Email' section is empty (remove the heading or write the email answer)",
                           path, "answer_email")

    return Article(
        id=article_id,
        title=title,
        answer=answer,
        answer_email=answer_email,
        links=_links(meta.get("links"), path),
        source_seed=_seeds(meta.get("source_seed"), path),
        client=_string(meta.get("client"), path, "client", required=False),
        questions=_questions(meta.get("questions"), path),
        path=path,
        team=team,
        url=_url(meta["url"], path, "url") if meta.get("url") is not None else None,
    )


def article_files(faq_dir: Path) -> list[Path]:
    """The article files of a folder, sorted (README.md and files starting with '_' are skipped)."""
    return sorted(
        p for p in Path(faq_dir).glob("*.md")
        if p.is_file() and not p.name.startswith(("_", ".")) and p.name.lower() != "readme.md"
    )


def load_articles(faq_dir: Path | str, files: Iterable[Path] | None = None) -> list[Article]:
    faq_dir = Path(faq_dir)
    if not faq_dir.is_dir():
        raise FaqError("FAQ folder not found", faq_dir)
    articles: list[Article] = []
    seen: dict[str, Path] = {}
    for path in files if files is not None else article_files(faq_dir):
        article = parse_article(path)
        if article.id in seen:
            raise FaqError(f"duplicate id {article.id!r}, also used by {seen[article.id]}", path, "id")
        seen[article.id] = path
        articles.append(article)
    if not articles:
        raise FaqError("no article files (*.md) found", faq_dir)
    return articles
