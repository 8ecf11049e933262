"""Exports of the review index, each for a filter (or chosen conversations), each audited.

  csv      the list, one row a conversation (masked; spreadsheet formulas neutralised)
  jsonl    the events, one line an event (masked: cards always, emails, one-time codes)
  nlu      the corrected customer messages as Rasa NLU training data (YAML), scrubbed:
           emails, order references, digits and names replaced by example values, and
           deduplicated against the project's data/ (and within the export)
  stories  the conversations as test stories that `rasa test` accepts, scrubbed the same way,
           with entity annotations and slot values rewritten consistently

A full card number never leaves: every text goes through supportbot.privacy's masking first.
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from supportbot.core.vocabulary import EMAIL_ADDRESS, ORDER_REFERENCE
from supportbot.db.models import ConversationVerification, Customer, Order
from supportbot.review import audit, pii, queries
from supportbot.review.errors import InvalidInput
from supportbot.review.events import events, has_events_table, parse_data, to_datetime
from supportbot.review.judging import corrections
from supportbot.review.queries import ConversationFilter, ConversationRow
from supportbot.review.vocabulary import EXPORT_FORMATS
from supportbot.settings import PROJECT_ROOT

FORMATS = EXPORT_FORMATS
MAX_EXPORT_CONVERSATIONS = 100_000
MAX_STORY_CONVERSATIONS = 500

CSV_COLUMNS = ("conversation_id", "channel", "first_activity", "last_activity", "user_turns",
               "first_message", "intents", "first_task_intent", "lowest_confidence", "fallbacks",
               "actions", "verified", "verified_order_masked", "refund_outcome",
               "refund_reason_code", "refund_amount_minor", "refund_currency", "handoff_team",
               "handoff_reason", "review_status", "tags", "model_id")

EXAMPLE_EMAILS = ("alex@example.com", "sam@example.org", "robin@example.net", "kim@example.com")
EXAMPLE_REFERENCES = ("123456789", "234567891", "345678912", "456789123")
EXAMPLE_NAMES = ("Alex Example", "Sam Sample", "Robin Demo", "Kim Placeholder")
EXAMPLE_CODE = "123456"
_EXAMPLE_DIGITS = "1234567890"

# vocabulary's email pattern, also matching the masked form (a***e@example.com)
_ANY_EMAIL = re.compile(EMAIL_ADDRESS.pattern.replace("[\\w.%+'-]+@", "[\\w.%+'*-]+@", 1))
_MASKED_CARD = re.compile(r"\*{4} \*{4} \*{4} (\d{4})")
_CODE_MASK = re.compile(re.escape(pii.CODE_MASK))
_DIGITS = re.compile(r"\d+")
_NAME_WORD = r"[A-ZÀ-ÖØ-Þ][\w'’-]+"
_INTRODUCTION = re.compile(
    r"(?P<lead>\b(?:my name is|my name's|i am|i'm|this is|name:|je m'appelle|ich bin|mi chiamo|"
    r"me llamo|meu nome é|ich heiße)\s+)(?P<name>" + _NAME_WORD + r"(?:\s+" + _NAME_WORD + r")?)",
    re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"(?P<lead>\b(?:regards|best|thanks|thank you|cheers|sincerely|kind regards|best regards|"
    r"gruß|grüße|cordialement|saludos|saluti)[,!.]?\s*\n?\s*)(?P<name>" + _NAME_WORD
    + r"(?:\s+" + _NAME_WORD + r")?)\s*$", re.IGNORECASE)
_NOT_NAMES = frozenset({"a", "an", "the", "not", "still", "very", "so", "trying", "looking",
                        "writing", "calling", "asking", "here", "again", "sorry", "just", "also",
                        "having", "getting", "unable", "waiting", "interested", "charged"})


# --------------------------------------------------------------------------- scrubbing

@dataclass
class Scrubber:
    """Replaces personal values by example values, consistently within one conversation
    (the same email in a message, an entity and a slot becomes the same example)."""

    names: tuple[str, ...] = ()  # known names of the customer (from the core)
    emails: dict[str, str] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    person_names: dict[str, str] = field(default_factory=dict)

    def _email(self, match: re.Match[str]) -> str:
        key = match.group(0).lower()
        if key not in self.emails:
            self.emails[key] = EXAMPLE_EMAILS[len(self.emails) % len(EXAMPLE_EMAILS)]
        return self.emails[key]

    def _reference(self, reference: str) -> str:
        if reference not in self.references:
            self.references[reference] = EXAMPLE_REFERENCES[len(self.references) % len(EXAMPLE_REFERENCES)]
        return self.references[reference]

    def _digits(self, match: re.Match[str]) -> str:
        digits = match.group(0)
        if ORDER_REFERENCE.fullmatch(digits):
            return self._reference(digits)
        return _example_digits(digits)

    def _name(self, name: str) -> str:
        key = name.lower()
        if key not in self.person_names:
            self.person_names[key] = EXAMPLE_NAMES[len(self.person_names) % len(EXAMPLE_NAMES)]
        return self.person_names[key]

    def text(self, value: str) -> str:
        value = pii.mask_card_numbers(value)  # never a card number, whatever comes next
        value = _ANY_EMAIL.sub(self._email, value)
        # one pass over digit runs: a run of exactly 9 is an order reference (vocabulary's rule)
        value = _DIGITS.sub(self._digits, value)
        value = _MASKED_CARD.sub("**** **** **** 4242", value)
        value = _CODE_MASK.sub(EXAMPLE_CODE, value)
        for known in sorted(self.names, key=len, reverse=True):
            if known:
                value = re.sub(rf"\b{re.escape(known)}\b", lambda m: self._name(m.group(0)), value,
                               flags=re.IGNORECASE)
        value = _INTRODUCTION.sub(self._introduced, value)
        value = _SIGN_OFF.sub(lambda m: m.group("lead") + self._name(m.group("name")), value)
        return value

    def _introduced(self, match: re.Match[str]) -> str:
        name = match.group("name")
        first = name.split()[0]
        if first.lower() in _NOT_NAMES or not first[:1].isupper() or name in EXAMPLE_NAMES:
            return match.group(0)
        return match.group("lead") + self._name(name)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value


def _example_digits(digits: str) -> str:
    return "".join(_EXAMPLE_DIGITS[i % 10] for i in range(len(digits)))


def customer_names(session: Session, conversation_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The names of the customers whose orders each conversation verified (for scrubbing)."""
    ids = list(conversation_ids)
    found: dict[str, set[str]] = {cid: set() for cid in ids}
    for i in range(0, len(ids), 500):
        for cid, name in session.execute(
                select(ConversationVerification.conversation_id, Customer.name)
                .join(Order, Order.id == ConversationVerification.order_id)
                .join(Customer, Customer.id == Order.customer_id)
                .where(ConversationVerification.conversation_id.in_(ids[i:i + 500]))):
            if name:
                found[cid].add(name)
                found[cid].update(part for part in name.split() if len(part) > 2)
    return {cid: tuple(sorted(names)) for cid, names in found.items()}


# --------------------------------------------------------------------------- selection

def _conversation_ids(session: Session, flt: ConversationFilter,
                      chosen: list[str] | None, limit: int) -> list[str]:
    if chosen is not None:
        return list(dict.fromkeys(chosen))[:limit]
    ids: list[str] = []
    for chunk in queries.iter_conversation_ids(session, flt):
        ids.extend(chunk)
        if len(ids) >= limit:
            return ids[:limit]
    return ids


def _rows(session: Session, ids: list[str]) -> Iterator[ConversationRow]:
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        page_rows = session.execute(select(*queries.LIST_COLUMNS).where(
            queries.S.conversation_id.in_(chunk))).mappings().all()
        by_id = {r["conversation_id"]: r for r in page_rows}
        tags = queries.tags_of(session, chunk)
        for cid in chunk:
            if cid in by_id:
                yield queries._row(by_id[cid], tags.get(cid, ()))


def _events_of(session: Session, conversation_id: str) -> list[Any]:
    if not has_events_table(session.connection()):
        return []
    return list(session.execute(
        select(events.c.id, events.c.type_name, events.c.timestamp, events.c.data)
        .where(events.c.sender_id == conversation_id).order_by(events.c.id)).all())


# --------------------------------------------------------------------------- formats

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text  # a spreadsheet must not run a customer's text as a formula
    return text


def write_csv(session: Session, ids: list[str], out: IO[str]) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in _rows(session, ids):
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
        n += 1
    return n


def masked_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event dict as it may leave the database: one-time codes blanked, then every string
    masked (cards always, emails)."""
    event = dict(event)
    parse = event.get("parse_data")
    if isinstance(parse, dict):
        entities = parse.get("entities")
        if isinstance(event.get("text"), str):
            event["text"] = pii.blank_spans(event["text"], entities)
        parse = dict(parse)
        if isinstance(parse.get("text"), str):
            parse["text"] = pii.blank_spans(parse["text"], entities)
        if isinstance(entities, list):
            parse["entities"] = [
                {**e, "value": pii.CODE_MASK} if isinstance(e, dict)
                and e.get("entity") in pii.SECRET_ENTITIES else e for e in entities]
        event["parse_data"] = parse
    if event.get("event") == "slot" and isinstance(event.get("name"), str):
        event["value"] = pii.mask_slot(event["name"], event.get("value"), reveal=True)
    return pii.mask_value(event)


def write_jsonl(session: Session, ids: list[str], out: IO[str]) -> int:
    n = 0
    for cid in ids:
        for event_id, type_name, timestamp, data in _events_of(session, cid):
            at = to_datetime(timestamp)
            out.write(json.dumps({"conversation_id": cid, "event_id": int(event_id), "type": type_name,
                                  "at": at.isoformat() if at else None,
                                  "event": masked_event(parse_data(data))},
                                 ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def _normal(example: str) -> str:
    return " ".join(example.lower().split())


def training_examples(data_dir: Path = PROJECT_ROOT / "data") -> set[str]:
    """Every NLU example of the project's training data, normalised (lower case, spaces)."""
    found: set[str] = set()
    for path in sorted(data_dir.rglob("*.yml")) + sorted(data_dir.rglob("*.yaml")):
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, OSError):
            continue
        for item in content.get("nlu") or () if isinstance(content, dict) else ():
            block = item.get("examples") if isinstance(item, dict) else None
            if not isinstance(block, str):
                continue
            for line in block.splitlines():
                line = line.strip()
                if line.startswith("- "):
                    found.add(_normal(_strip_annotations(line[2:])))
    return found


_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def _strip_annotations(example: str) -> str:
    return _ANNOTATION.sub(lambda m: m.group(1), example)


@dataclass(frozen=True)
class NluExport:
    examples: dict[str, list[str]]  # intent -> examples
    skipped_known: int  # already in data/
    skipped_duplicates: int  # twice in this export
    skipped_conflicts: int  # the same text under two intents in this export


def build_nlu(session: Session, ids: list[str] | None, data_dir: Path = PROJECT_ROOT / "data"
              ) -> NluExport:
    known = training_examples(data_dir)
    rows = corrections(session, ids)
    names = customer_names(session, {c.conversation_id for c in rows})
    seen: dict[str, str] = {}
    examples: dict[str, list[str]] = {}
    known_n = dup_n = conflict_n = 0
    for c in rows:
        example = " ".join(Scrubber(names=names.get(c.conversation_id, ())).text(c.text_masked).split())
        if not example or example.startswith("/"):
            continue
        key = _normal(example)
        if key in known:
            known_n += 1
            continue
        if key in seen:
            if seen[key] == c.corrected_intent:
                dup_n += 1
            else:
                conflict_n += 1
            continue
        seen[key] = c.corrected_intent
        examples.setdefault(c.corrected_intent, []).append(example)
    return NluExport(examples, known_n, dup_n, conflict_n)


def write_nlu(session: Session, ids: list[str] | None, out: IO[str],
              data_dir: Path = PROJECT_ROOT / "data") -> int:
    result = build_nlu(session, ids, data_dir)
    out.write('version: "3.1"\n')
    out.write("# Corrected customer messages exported from the review console (scrubbed: example\n"
              "# emails, references, digits and names). Not in data/ yet; "
              f"{result.skipped_known} already there, {result.skipped_duplicates} duplicates and "
              f"{result.skipped_conflicts} conflicting left out.\n")
    out.write("nlu:\n" if result.examples else "nlu: []\n")
    n = 0
    for intent in sorted(result.examples):
        out.write(f"- intent: {intent}\n  examples: |\n")
        for example in result.examples[intent]:
            out.write(f"    - {example}\n")
            n += 1
    return n


# --------------------------------------------------------------------------- stories

class StoryNotExportable(Exception):
    """The conversation holds events a story cannot express (rewinds, undos, restarts)."""


_SKIPPED_EVENTS = frozenset({"bot", "user_featurization", "entities", "action_execution_rejected",
                             "loop_interrupted", "session_started", "stack", "wrong_utterance",
                             "agent", "pause", "resume"})
_UNSUPPORTED_EVENTS = frozenset({"rewind", "undo", "restart", "followup", "reminder", "cancel_reminder",
                                 "reset_slots", "export"})
_SKIPPED_ACTIONS = frozenset({"action_listen", "action_session_start", "action_unlikely_intent"})
_AUTO_SLOTS = frozenset({"session_started_metadata"})


def _annotated(text: str, entities: Any, scrub: Scrubber) -> str:
    """The user text with the NLU's entities as story markup, each piece scrubbed."""
    spans = []
    for e in entities if isinstance(entities, list) else ():
        if not isinstance(e, dict):
            continue
        start, end, name = e.get("start"), e.get("end"), e.get("entity")
        if isinstance(start, int) and isinstance(end, int) and isinstance(name, str) \
                and 0 <= start < end <= len(text):
            spans.append((start, end, e))
    spans.sort(key=lambda s: s[0])
    out, pos = [], 0
    for start, end, e in spans:
        if start < pos:
            continue  # overlapping extractor results: keep the first
        out.append(scrub.text(text[pos:start]))
        if e["entity"] in pii.SECRET_ENTITIES:
            segment = value = EXAMPLE_CODE
        else:
            segment = scrub.text(text[start:end])
            raw_value = e.get("value")
            value = scrub.value(raw_value) if raw_value is not None else segment
        if value == segment:
            out.append(f"[{segment}]({e['entity']})")
        else:
            attrs = {"entity": e["entity"], "value": value}
            for key in ("role", "group"):
                if e.get(key):
                    attrs[key] = e[key]
            out.append(f"[{segment}]{json.dumps(attrs, ensure_ascii=False)}")
        pos = end
    out.append(scrub.text(text[pos:]))
    return "".join(out)


def story_steps(rows: list[Any], scrub: Scrubber) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    started = False
    for _event_id, type_name, _timestamp, data in rows:
        event = parse_data(data)
        if type_name in _UNSUPPORTED_EVENTS:
            raise StoryNotExportable(f"it holds a {type_name!r} event")
        if type_name == "user":
            started = True
            parse = event.get("parse_data") if isinstance(event.get("parse_data"), dict) else {}
            intent = (parse.get("intent") or {}).get("name") if isinstance(parse.get("intent"), dict) else None
            if not intent:
                raise StoryNotExportable("a customer message has no intent")
            said = pii.mask_card_numbers(event.get("text") or "") if isinstance(event.get("text"), str) else ""
            entities = parse.get("entities")
            if not said:
                step: dict[str, Any] = {"intent": intent}
            elif said.startswith("/"):  # a button payload, as the project's test stories write it
                step = {"user": scrub.text(said), "intent": intent}
            else:
                step = {"user": _annotated(said, entities, scrub), "intent": intent}
            steps.append(step)
            continue
        if not started or type_name in _SKIPPED_EVENTS:
            continue
        if type_name == "action":
            name = event.get("name")
            if isinstance(name, str) and name not in _SKIPPED_ACTIONS:
                steps.append({"action": name})
        elif type_name == "slot":
            name = event.get("name")
            if isinstance(name, str) and name not in _AUTO_SLOTS:
                value = event.get("value")
                if name in pii.SECRET_SLOTS and isinstance(value, str) and any(ch.isdigit() for ch in value):
                    value = EXAMPLE_CODE  # the code itself; a status such as "verified" stays
                else:
                    value = scrub.value(value)
                steps.append({"slot_was_set": [{name: value}]})
        elif type_name == "active_loop":
            steps.append({"active_loop": event.get("name")})
    # a story ends with what the bot did, never with a message it did not answer yet
    while steps and ("user" in steps[-1] or "intent" in steps[-1]) and "action" not in steps[-1]:
        steps.pop()
    return steps


class _StoryDumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_StoryDumper.add_representer(str, _str_presenter)


def write_stories(session: Session, ids: list[str], out: IO[str]) -> int:
    names = customer_names(session, ids)
    stories, skipped = [], []
    for cid in ids:
        try:
            steps = story_steps(_events_of(session, cid), Scrubber(names=names.get(cid, ())))
        except StoryNotExportable as exc:
            skipped.append(f"{cid}: {exc}")
            continue
        if steps:
            stories.append({"story": f"review {cid}", "steps": steps})
    out.write('version: "3.1"\n')
    out.write("# Test stories exported from the review console (scrubbed: example emails,\n"
              "# references, digits and names). Run: rasa test core --stories <this file>\n")
    for line in skipped:
        out.write(f"# not exported: {pii.mask_text(line)}\n")
    buffer = io.StringIO()
    yaml.dump({"stories": stories}, buffer, Dumper=_StoryDumper, allow_unicode=True,
              sort_keys=False, default_flow_style=False, width=10_000)
    out.write(buffer.getvalue())
    return len(stories)


# --------------------------------------------------------------------------- entry point

def export(session: Session, fmt: str, flt: ConversationFilter, out: IO[str], actor: str, *,
           conversation_ids: list[str] | None = None) -> int:
    """Writes the export of `fmt` for the filter (or the chosen conversations) to `out`, and an
    audit-log entry (who, which format and filter, how many). Returns rows / events / examples /
    stories written."""
    if fmt not in FORMATS:
        raise InvalidInput("format", f"one of {', '.join(FORMATS)}")
    limit = MAX_STORY_CONVERSATIONS if fmt == "stories" else MAX_EXPORT_CONVERSATIONS
    ids = _conversation_ids(session, flt, conversation_ids, limit)
    if fmt == "csv":
        n = write_csv(session, ids, out)
    elif fmt == "jsonl":
        n = write_jsonl(session, ids, out)
    elif fmt == "nlu":
        n = write_nlu(session, ids, out)
    else:
        n = write_stories(session, ids, out)
    audit.record(session, "export", actor, format=fmt, filter=flt.describe(),
                 conversations=len(ids), chosen=conversation_ids is not None, written=n)
    return n
