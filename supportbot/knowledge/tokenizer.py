"""spaCy's rule-based English tokenizer without importing spaCy (`supportbot faq ask` in < 1 s).

The FAQ tokenises with `spacy.blank("en")`'s tokenizer: whitespace, then prefixes, suffixes,
special cases (contractions, abbreviations, emoticons), URLs and infixes. Importing spaCy and
building that tokenizer takes about 0.75 s, most of a one-question `faq ask`. This module runs
the same algorithm (spaCy's documented tokenizer pseudo-code, plus its final pass that joins
special cases split by affix rules, such as "):") in plain Python, from spaCy's own rules:

- `spacy_rules()` reads the rules from the installed spaCy (prefix, suffix, infix and URL
  patterns, the special cases' token texts and the English stop words);
- `cached_rules()` keeps them in `<var_dir>/cache/spacy-tokenizer-en-<spaCy version>.json`,
  written the first time (importing spaCy once), read without spaCy afterwards;
- `RuleTokenizer(rules)(text)` gives the token texts (whitespace dropped).

tests/unit/knowledge/test_faq_cli.py (test_the_rule_tokenizer_tokenizes_like_spacy) compares it
with spaCy's tokenizer on the articles, the Rasa data, the docs and random punctuation soup:
the same tokens on all real text; on random punctuation only emoticon-like runs of punctuation
may differ, and the FAQ drops those anyway.
"""
from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

RULES_FORMAT = 1


def spacy_rules() -> dict[str, Any]:
    """The rules of the installed spaCy's blank English tokenizer, as plain data."""
    from supportbot.knowledge.text import import_spacy

    spacy = import_spacy()
    from spacy.lang.en.stop_words import STOP_WORDS
    from spacy.symbols import ORTH

    tokenizer = spacy.blank("en").tokenizer
    url_match = tokenizer.url_match
    return {
        "format": RULES_FORMAT,
        "spacy": spacy.__version__,
        "prefix": tokenizer.prefix_search.__self__.pattern,
        "suffix": tokenizer.suffix_search.__self__.pattern,
        "infix": tokenizer.infix_finditer.__self__.pattern,
        "url": url_match.__self__.pattern if url_match is not None else None,
        "special": {key: [part[ORTH] for part in parts] for key, parts in tokenizer.rules.items()},
        "stop_words": sorted(STOP_WORDS),
    }


@lru_cache(maxsize=1)
def _spacy_version() -> str:
    try:
        return metadata.version("spacy")
    except metadata.PackageNotFoundError:
        return "absent"


def tokenizer_version() -> str:
    """What tokenises the FAQ: changes when the rules (spaCy's version) or this port change."""
    return f"spacy-{_spacy_version()}-rules-{RULES_FORMAT}"


def rules_path(cache_dir: Path | None = None) -> Path:
    if cache_dir is None:
        from supportbot.settings import Settings

        cache_dir = Settings.from_env().var_dir / "cache"
    return cache_dir / f"spacy-tokenizer-en-{_spacy_version()}.json"


@lru_cache(maxsize=4)
def cached_rules(cache_dir: Path | None = None) -> dict[str, Any]:
    """The rules from the cache file of this spaCy version, made (with spaCy) when missing or
    unreadable. A cache that cannot be written is not an error: the rules are just not kept."""
    path = rules_path(cache_dir)
    try:
        rules = json.loads(path.read_text(encoding="utf-8"))
        if rules.get("format") == RULES_FORMAT and rules.get("spacy") == _spacy_version():
            return rules
    except (OSError, ValueError):
        pass
    rules = spacy_rules()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(rules), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass
    return rules


def is_punct(token: str) -> bool:
    """spaCy's `Token.is_punct`: every character is Unicode punctuation (P*)."""
    return all(unicodedata.category(char).startswith("P") for char in token)


class RuleTokenizer:
    """spaCy's tokenizer algorithm over `rules` (see `spacy_rules`): text -> token texts."""

    def __init__(self, rules: dict[str, Any]):
        self._prefix = re.compile(rules["prefix"]).search
        self._suffix = re.compile(rules["suffix"]).search
        self._infix: Callable[[str], Iterator[re.Match[str]]] = re.compile(rules["infix"]).finditer
        url = rules.get("url")
        self._url = re.compile(url).match if url else (lambda _text: None)
        self._special: dict[str, list[str]] = rules["special"]
        # special cases that the affix rules cut apart in context ("languages):" -> ")", ":")
        # are joined again afterwards, as spaCy's special-case matcher does
        self._rejoin: dict[tuple[str, ...], list[str]] = {}
        for key, parts in self._special.items():
            pieces = tuple(self._split(key, {}))
            if len(pieces) > 1 and list(pieces) != parts:
                self._rejoin[pieces] = parts
        self._longest = max((len(pieces) for pieces in self._rejoin), default=0)

    def __call__(self, text: str) -> list[str]:
        out: list[str] = []
        for chunk in text.split():
            tokens = self._split(chunk, self._special)
            i = 0
            while i < len(tokens):
                for size in range(min(self._longest, len(tokens) - i), 1, -1):
                    parts = self._rejoin.get(tuple(tokens[i:i + size]))
                    if parts is not None:
                        out.extend(parts)
                        i += size
                        break
                else:
                    out.append(tokens[i])
                    i += 1
        return out

    def _split(self, substring: str, special: dict[str, list[str]]) -> list[str]:
        """One whitespace-free chunk: spaCy's affix loop, special cases, URLs, infixes."""
        prefix, suffix = self._prefix, self._suffix
        tokens: list[str] = []
        suffixes: list[str] = []
        while substring:
            if substring in special:
                tokens.extend(special[substring])
                break
            while prefix(substring) or suffix(substring):
                if substring in special:
                    break
                match = prefix(substring)
                if match:
                    tokens.append(substring[:match.end()])
                    substring = substring[match.end():]
                    if substring in special:
                        continue
                match = suffix(substring)
                if match:
                    suffixes.append(substring[match.start():])
                    substring = substring[:match.start()]
            if not substring:
                break
            if substring in special:
                tokens.extend(special[substring])
            elif self._url(substring):
                tokens.append(substring)
            else:
                offset = 0
                for match in self._infix(substring):
                    if offset == 0 and match.start() == 0:
                        continue
                    tokens.append(substring[offset:match.start()])
                    tokens.append(match.group())
                    offset = match.end()
                tokens.append(substring[offset:])
            break
        tokens.extend(reversed(suffixes))
        return [token for token in tokens if token]
