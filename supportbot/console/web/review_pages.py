"""The review pages on top of supportbot.review: conversation list, transcript, judging,
exports, reveal, the handoff queue, erasure; plus their JSON under /api/.

Every handler runs the review domain in a worker thread, one short transaction each
(`session_scope`). The review domain validates its input (InvalidInput -> 400 with the
message); the pages only decide who may do what: reviewers read, tag, review, correct and work
the queue; leads also export, reveal email addresses and erase.
"""
from __future__ import annotations

import asyncio
import io
import json
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web
from multidict import MultiMapping

from supportbot.console.web.auth import current, is_api, requires
from supportbot.console.web.render import render
from supportbot.core.routing import NO_TEAM_REASONS, ROUTING
from supportbot.core.vocabulary import TEAM_LABELS, TEAMS
from supportbot.db.engine import session_scope
from supportbot.review import queries
from supportbot.review.errors import (
    ConversationNotFound,
    InvalidInput,
    ReviewError,
    TicketNotFound,
    TicketStateError,
)
from supportbot.review.models import CHANNELS, REFUND_OUTCOMES, REVIEW_STATUSES

T = TypeVar("T")
PAGE_SIZE = 50
TURNS_PER_PAGE = 50
EXPORT_FORMATS = {
    "csv": ("text/csv", "csv"),
    "jsonl": ("application/x-ndjson", "jsonl"),
    "nlu": ("application/yaml", "yml"),
    "stories": ("application/yaml", "yml"),
}
SORT_LABELS = {
    "last_activity": "Last activity", "first_activity": "Started", "user_turns": "Turns",
    "lowest_confidence": "Lowest confidence", "fallbacks": "Fallbacks", "channel": "Channel",
    "refund_outcome": "Refund", "review_status": "Review",
}


def _engine(request: web.Request):
    from supportbot.console.web.app import ENGINE

    return request.app[ENGINE]


async def in_session(request: web.Request, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work(session, *args, **kwargs)` in one transaction, in a worker thread."""
    engine = _engine(request)

    def run() -> T:
        with session_scope(engine) as session:
            return work(session, *args, **kwargs)

    return await asyncio.to_thread(run)


def _params(query: MultiMapping[str]) -> dict[str, list[str]]:
    return {key: query.getall(key) for key in query}


def _int(value: Any, default: int, low: int = 1, high: int = 10_000) -> int:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return min(max(number, low), high)


def _bad_request(request: web.Request, message: str) -> web.HTTPException:
    if is_api(request):
        return web.HTTPBadRequest(text=json.dumps({"error": message}),
                                  content_type="application/json")
    page = render(request, "error.html", status=400, title="Not accepted", message=message)
    return web.HTTPBadRequest(text=page.text, content_type="text/html")


def _not_found(request: web.Request, message: str) -> web.HTTPException:
    if is_api(request):
        return web.HTTPNotFound(text='{"error": "not found"}', content_type="application/json")
    page = render(request, "error.html", status=404, title="Not found", message=message)
    return web.HTTPNotFound(text=page.text, content_type="text/html")


def conversation_url(conversation_id: str, suffix: str = "") -> str:
    return f"/conversations/{quote(conversation_id, safe='')}{suffix}"


def _list_url(flt: queries.ConversationFilter, *, page: int = 1, page_size: int = PAGE_SIZE,
              **changes: Any) -> str:
    params = flt.with_changes(**changes).to_params() if changes else flt.to_params()
    if page > 1:
        params.append(("page", str(page)))
    if page_size != PAGE_SIZE:
        params.append(("page_size", str(page_size)))
    return "/conversations" + (f"?{urlencode(params)}" if params else "")


# --- the list ----------------------------------------------------------------------------
def _filter_or_error(params: dict[str, list[str]]) -> tuple[queries.ConversationFilter, str]:
    try:
        return queries.ConversationFilter.from_params(params), ""
    except InvalidInput as exc:
        return queries.ConversationFilter(), str(exc)


@requires("reviewer")
async def conversations(request: web.Request) -> web.StreamResponse:
    params = _params(request.query)
    flt, error = _filter_or_error(params)
    page_number = _int(request.query.get("page"), 1)
    size = _int(request.query.get("page_size"), PAGE_SIZE, 1, 200)
    result = await in_session(request, queries.list_conversations, flt, page=page_number,
                              page_size=size)
    sort_links = {
        key: _list_url(flt, page_size=size, sort=key,
                       descending=not flt.descending if flt.sort == key else True)
        for key in SORT_LABELS}
    return render(
        request, "conversations.html", status=400 if error else 200, title="Conversations", flt=flt, result=result,
        error=error, raw=params, channels=CHANNELS, refund_outcomes=REFUND_OUTCOMES,
        review_statuses=REVIEW_STATUSES, teams=TEAMS, team_labels=TEAM_LABELS,
        sort_labels=SORT_LABELS, sort_links=sort_links, filter_params=flt.to_params(),
        previous_url=_list_url(flt, page=page_number - 1, page_size=size) if result.has_previous else None,
        next_url=_list_url(flt, page=page_number + 1, page_size=size) if result.has_next else None,
        page_size=size, intents=_known_intents(),
        reasons=sorted(set(ROUTING) | NO_TEAM_REASONS),
        conversation_url=conversation_url, is_lead=current(request).user.is_lead,
        export_formats=EXPORT_FORMATS)


@requires("reviewer")
async def api_conversations(request: web.Request) -> web.StreamResponse:
    try:
        flt = queries.ConversationFilter.from_params(_params(request.query))
    except InvalidInput as exc:
        raise _bad_request(request, str(exc)) from None
    page_number = _int(request.query.get("page"), 1)
    result = await in_session(request, queries.list_conversations, flt, page=page_number,
                              page_size=_int(request.query.get("page_size"), PAGE_SIZE, 1,
                                             queries.MAX_PAGE_SIZE))
    return web.json_response({
        "total": result.total, "page": result.page, "pages": result.pages,
        "items": [{
            "conversation_id": r.conversation_id, "channel": r.channel,
            "first_activity": r.first_activity.isoformat(), "last_activity": r.last_activity.isoformat(),
            "user_turns": r.user_turns, "intents": list(r.intents),
            "lowest_confidence": r.lowest_confidence, "fallbacks": r.fallbacks,
            "verified": r.verified, "refund_outcome": r.refund_outcome,
            "refund_reason_code": r.refund_reason_code, "handoff_team": r.handoff_team,
            "handoff_reason": r.handoff_reason, "review_status": r.review_status,
            "tags": list(r.tags)} for r in result.items]})


# --- the transcript ----------------------------------------------------------------------
def _read(session, cid: str, page: int, reveal_by: str | None) -> queries.Transcript:
    """The transcript page; with `reveal_by`, emails shown and the reveal audited in the same
    transaction (no reveal without its audit entry)."""
    found = queries.transcript(session, cid, page=page, page_size=TURNS_PER_PAGE,
                               reveal=reveal_by is not None)
    if reveal_by is not None:
        from supportbot.review.audit import record_reveal

        record_reveal(session, reveal_by, cid)
    return found


async def _transcript_page(request: web.Request, *, reveal_by: str | None = None,
                           status: int = 200, error: str = "") -> web.Response:
    cid = request.match_info["cid"]
    page_number = _int(request.query.get("page"), 1)
    try:
        found = await in_session(request, _read, cid, page_number, reveal_by)
    except ConversationNotFound:
        raise _not_found(request, f"There is no conversation {cid!r}.") from None
    base = conversation_url(cid)
    return render(
        request, "transcript.html", intents=_known_intents(), status=status, title=f"Conversation {cid}", t=found,
        cid=cid, base=base, error=error, review_statuses=REVIEW_STATUSES,
        is_lead=current(request).user.is_lead, export_formats=EXPORT_FORMATS,
        previous_url=f"{base}?page={page_number - 1}" if page_number > 1 else None,
        next_url=f"{base}?page={page_number + 1}" if page_number < found.pages else None)


def _known_intents() -> list[str]:
    try:
        return sorted(_judging().known_intents())
    except Exception:  # noqa: BLE001 - the form still works, as free text
        return []


@requires("reviewer")
async def transcript(request: web.Request) -> web.StreamResponse:
    return await _transcript_page(request)


@requires("lead")
async def reveal(request: web.Request) -> web.StreamResponse:
    """The transcript with email addresses shown (never card numbers or codes); audited."""
    return await _transcript_page(request, reveal_by=current(request).user.email)


# --- judging -----------------------------------------------------------------------------
def _judging():
    from supportbot.review import judging

    return judging


async def _judge(request: web.Request, action: Callable[..., Any], done: str) -> web.StreamResponse:
    cid = request.match_info["cid"]
    form = await request.post()
    actor = current(request).user.email
    try:
        await in_session(request, action, cid, form, actor)
    except ConversationNotFound:
        raise _not_found(request, f"There is no conversation {cid!r}.") from None
    except (InvalidInput, ReviewError) as exc:
        if request.headers.get("HX-Request"):
            return await _judge_panel(request, cid, error=str(exc), status=400)
        return await _transcript_page(request, status=400, error=str(exc))
    if request.headers.get("HX-Request"):  # htmx: only the panel is swapped
        return await _judge_panel(request, cid, flash=done)
    raise web.HTTPSeeOther(conversation_url(cid, f"?done={quote(done)}"))


async def _judge_panel(request: web.Request, cid: str, *, error: str = "", flash: str = "",
                       status: int = 200) -> web.Response:
    found = await in_session(request, queries.transcript, cid, page=1, page_size=1)
    return render(request, "_judge.html", status=status, t=found, cid=cid,
                  base=conversation_url(cid), error=error, flash=flash,
                  review_statuses=REVIEW_STATUSES)


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


@requires("reviewer")
async def set_status(request: web.Request) -> web.StreamResponse:
    return await _judge(request, lambda s, cid, form, actor: _judging().set_review_status(
        s, cid, _field(form, "status"), actor=actor), "review status saved")


@requires("reviewer")
async def add_tag(request: web.Request) -> web.StreamResponse:
    return await _judge(request, lambda s, cid, form, actor: _judging().add_tag(
        s, cid, _field(form, "tag"), actor=actor), "tag added")


@requires("reviewer")
async def remove_tag(request: web.Request) -> web.StreamResponse:
    return await _judge(request, lambda s, cid, form, actor: _judging().remove_tag(
        s, cid, _field(form, "tag"), actor=actor), "tag removed")


@requires("reviewer")
async def add_note(request: web.Request) -> web.StreamResponse:
    return await _judge(request, lambda s, cid, form, actor: _judging().add_note(
        s, cid, _field(form, "body"), actor=actor), "note added")


@requires("reviewer")
async def correct_intent(request: web.Request) -> web.StreamResponse:
    def work(session, cid, form, actor):
        event_id = _int(_field(form, "event_id"), 0, 0, 2**62)
        if not event_id:
            raise InvalidInput("event_id", "the message to correct")
        return _judging().correct_intent(session, cid, event_id, _field(form, "intent"),
                                         actor=actor)

    return await _judge(request, work, "intent corrected")


# --- exports -----------------------------------------------------------------------------
@requires("lead")
async def export(request: web.Request) -> web.StreamResponse:
    from supportbot.review import exports

    form = await request.post()
    fmt = _field(form, "format")
    if fmt not in EXPORT_FORMATS:
        raise _bad_request(request, f"format: one of {', '.join(EXPORT_FORMATS)}")
    params = {key: form.getall(key) for key in form if key not in ("csrf_token", "format")}
    try:
        flt = queries.ConversationFilter.from_params(params)
    except InvalidInput as exc:
        raise _bad_request(request, str(exc)) from None
    ids = [v for v in form.getall("conversation_id", []) if isinstance(v, str)] or None
    actor = current(request).user.email

    # written to a temporary file in the worker thread, then streamed: memory stays flat
    # however many conversations the filter matches
    spool = tempfile.TemporaryFile(mode="w+b")

    def write(session) -> None:
        text_out = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=False)
        exports.export(session, fmt, flt, text_out, actor, conversation_ids=ids)
        text_out.flush()
        text_out.detach()

    try:
        try:
            await in_session(request, write)
        except (InvalidInput, ReviewError) as exc:
            raise _bad_request(request, str(exc)) from None
        content_type, extension = EXPORT_FORMATS[fmt]
        response = web.StreamResponse(headers={
            "Content-Type": f"{content_type}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="conversations-{fmt}.{extension}"'})
        response.content_length = spool.tell()
        spool.seek(0)
        await response.prepare(request)
        while chunk := await asyncio.to_thread(spool.read, 256 * 1024):
            await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        spool.close()


# --- the handoff queue -------------------------------------------------------------------
def _queue():
    from supportbot.review import queue

    return queue


@requires("reviewer")
async def queue_page(request: web.Request) -> web.StreamResponse:
    team = request.query.get("team") or None
    if team is not None and team not in TEAMS:
        raise _bad_request(request, f"team: one of {', '.join(TEAMS)}")
    tickets, counts = await in_session(request, lambda s: (_queue().open_tickets(s, team=team),
                                                           _queue().open_counts(s)))
    return render(request, "queue.html", title="Handoff queue", tickets=tickets, team=team,
                  counts=counts,
                  teams=TEAMS, team_labels=TEAM_LABELS, conversation_url=conversation_url)


async def _ticket_action(request: web.Request, action: str) -> web.StreamResponse:
    ticket_id = _int(request.match_info["ticket"], 0, 0, 2**62)
    form = await request.post()
    actor = current(request).user.email
    try:
        if action == "claim":
            await in_session(request, lambda s: _queue().claim(s, ticket_id, actor=actor))
        else:
            note = _field(form, "resolution")
            await in_session(request, lambda s: _queue().close(s, ticket_id, actor=actor,
                                                               resolution=note))
    except TicketNotFound:
        raise _not_found(request, f"There is no handoff ticket {ticket_id}.") from None
    except (TicketStateError, InvalidInput) as exc:
        raise _bad_request(request, str(exc)) from None
    back = _field(form, "team")
    suffix = f"&team={quote(back)}" if back in TEAMS else ""
    raise web.HTTPSeeOther(f"/queue?done={'claimed' if action == 'claim' else 'closed'}{suffix}")


@requires("reviewer")
async def claim(request: web.Request) -> web.StreamResponse:
    return await _ticket_action(request, "claim")


@requires("reviewer")
async def close(request: web.Request) -> web.StreamResponse:
    return await _ticket_action(request, "close")


# --- erasure -----------------------------------------------------------------------------
@requires("lead")
async def erase_confirm(request: web.Request) -> web.StreamResponse:
    cid = request.match_info["cid"]
    try:
        row = await in_session(request, queries.conversation, cid)
    except ConversationNotFound:
        row = None
    return render(request, "erase.html", title="Erase a conversation", cid=cid, row=row,
                  base=conversation_url(cid), error="")


@requires("lead")
async def erase(request: web.Request) -> web.StreamResponse:
    from supportbot.review import erasure

    cid = request.match_info["cid"]
    form = await request.post()
    if _field(form, "confirm").strip() != cid:
        page = render(request, "erase.html", status=400, title="Erase a conversation", cid=cid,
                      row=None, base=conversation_url(cid),
                      error="Type the conversation id exactly to confirm the erasure.")
        return page
    actor = current(request).user.email
    result = await in_session(request, lambda s: erasure.erase_conversation(s, cid, actor=actor))
    if not result.anything:
        raise _not_found(request, f"There is no conversation {cid!r}.")
    raise web.HTTPSeeOther("/conversations?done=erased")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/conversations", conversations)
    r.add_get("/api/conversations", api_conversations)
    r.add_post("/export", export)
    r.add_get("/queue", queue_page)
    r.add_post(r"/queue/{ticket:\d+}/claim", claim)
    r.add_post(r"/queue/{ticket:\d+}/close", close)
    r.add_get("/conversations/{cid}", transcript)
    r.add_post("/conversations/{cid}/reveal", reveal)
    r.add_post("/conversations/{cid}/status", set_status)
    r.add_post("/conversations/{cid}/tags", add_tag)
    r.add_post("/conversations/{cid}/tags/remove", remove_tag)
    r.add_post("/conversations/{cid}/notes", add_note)
    r.add_post("/conversations/{cid}/corrections", correct_intent)
    r.add_get("/conversations/{cid}/erase", erase_confirm)
    r.add_post("/conversations/{cid}/erase", erase)
