"""The data protection officer's pages: the request queue, one request's case page, stopped
jobs, the records of processing, the audit log and the key figures."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.datamap import protection
from portal.exports.service import runtime_for
from portal.identity.auth import staff_required
from portal.views import (
    audit_log,
    dpo_actions,
    dpo_case,
    dpo_dashboard,
    dpo_data,
    dpo_queue,
    parked_jobs,
    records_of_processing,
)
from portal.views.common import Done, pdf_response, redirect, render, respond
from portal.web.handlers import in_thread
from portal.workflows import recipients
from portal.workflows.request_queue import MAX_SEARCH, QueueFilter, SearchRefused, parse_search

# The session's key for the queue's search: personal data, kept on the server, never in a URL.
SEARCH_KEY = "queue_search"


@staff_required("dpo")
async def queue(request: Request) -> Response:
    """The queue: the filter from the query string, the search from the session."""
    return await _queue(request, request.query_params)


@staff_required("dpo")
async def search(request: Request) -> Response:
    """The queue's form: the search (kept in the session, or cleared) and the filters, then the
    queue at its address, which carries the filters only. htmx gets the table in place."""
    form = await request.form()
    term = "" if form.get("clear") else str(form.get("q") or "")[: MAX_SEARCH + 1]
    try:
        found = parse_search(term)
    except SearchRefused as refused:
        error = {"search_error": str(refused), "message": str(refused), "searched": True}
        return await _queue(request, form, status=400, search=term[:MAX_SEARCH], **error)
    if found is not None:
        request.scope["web_session"].data[SEARCH_KEY] = found.term
    else:
        request.scope["web_session"].data.pop(SEARCH_KEY, None)
    chosen = QueueFilter.from_query(form)
    if not _fragment(request):
        return RedirectResponse(chosen.href(page=1), status_code=303)
    return await _queue(request, chosen.params(page=1), searched=True)


@staff_required("dpo")
async def assign(request: Request) -> Response:
    """Assignment from the queue: a row's "Assign to me", or the chosen rows to a DPO or to
    nobody. Back to the same filter and page."""
    state = request.app.state
    form = await request.form()
    done = await in_thread(
        dpo_queue.assign_from_form,
        state.engine,
        form,
        [str(value) for value in form.getlist("request")],
        staff_id=request.scope["viewer"].id,
        now=state.now(),
    )
    if done.refused or _fragment(request):
        return await _queue(
            request, form, message=done.message, status=400 if done.refused else 200
        )
    back = QueueFilter.from_query(form)
    return redirect(request, Done(back.href(), done.message))


def _fragment(request: Request) -> bool:
    """htmx asks for the table region only (not when restoring history: that is the page)."""
    headers = request.headers
    return bool(headers.get("hx-request")) and not headers.get("hx-history-restore-request")


async def _queue(
    request: Request, params: Mapping[str, Any], *, status: int = 200, **shown: Any
) -> Response:
    """The queue page, or for htmx its table region; ``shown``: what a form adds to it."""
    state = request.app.state
    page = await in_thread(
        dpo_queue.load_queue,
        state.engine,
        state.datamap,
        state.sources,
        params,
        _search_term(request),
        viewer_id=request.scope["viewer"].id,
        language=i18n.current_language(),
        now=state.now(),
        shown=shown,
    )
    if not _fragment(request):
        return render(request, "dpo/queue.html", page, status)
    # htmx swaps only a 2xx answer: a refusal comes as 200, its reason in the status line.
    response = render(request, "dpo/queue_fragment.html", page)
    response.headers["HX-Push-Url"] = page.href
    return response


def _search_term(request: Request) -> str:
    return str(request.scope["web_session"].data.get(SEARCH_KEY) or "")


def _case_sources(state: Any, request_id: int, language: str) -> dict[str, Any]:
    """What the case page reads besides the portal's database: the plan's records named from
    the company's databases (read in the page's thread), and the map's tables a rectification
    may name."""
    labels = partial(
        dpo_data.case_record_labels,
        state.engine,
        state.datamap,
        state.sources,
        request_id,
        language,
    )
    return {
        "labels": labels,
        "tables": recipients.recipient_tables(state.datamap, language),
        "protection": partial(protection.is_protected, state.datamap, state.sources),
    }


@staff_required("dpo")
async def case(request: Request) -> Response:
    state, request_id = request.app.state, request.path_params["id"]
    language = i18n.current_language()
    page = await in_thread(
        dpo_case.load_case,
        state.engine,
        request_id,
        request.scope["viewer"].id,
        language,
        state.datamap.controller.time_zone,
        state.now(),
        duplicate_window_days=state.settings.duplicate_window_days,
        **_case_sources(state, request_id, language),
    )
    if page is None:
        return state.render_error(request, 404)
    return render(request, "dpo/request.html", page)


@staff_required("dpo")
async def found_data(request: Request) -> Response:
    """The data found for the request's person, on demand (audit-logged): the case page's
    fragment for htmx, else a page of its own."""
    state = request.app.state
    page = await in_thread(
        dpo_data.load_found_data,
        state.engine,
        state.datamap,
        state.sources,
        request.path_params["id"],
        request.scope["viewer"].id,
        i18n.current_language(),
        state.now(),
    )
    if page is None:
        return state.render_error(request, 404)
    fragment = request.headers.get("hx-request")
    return render(request, "dpo/_data_found.html" if fragment else "dpo/request_data.html", page)


@staff_required("dpo")
async def outcome_letter(request: Request) -> Response:
    """A completed erasure's outcome letter, in the person's language; audit-logged."""
    state = request.app.state
    facts = await in_thread(
        dpo_case.load_case_letter,
        state.engine,
        request.path_params["id"],
        request.scope["viewer"].id,
        state.now(),
    )
    if facts is None:
        return state.render_error(request, 404)
    pdf = await in_thread(facts.render, state.datamap.controller, facts.language)
    return pdf_response(pdf, facts.request_id)


@staff_required("dpo")
async def act(request: Request) -> Response:
    """One of the case page's forms; a refusal shows the page again with the reason."""
    return await _act(request, request.path_params["action"], dict(await request.form()))


@staff_required("dpo")
async def recipient_done(request: Request) -> Response:
    """The DPO records that a recipient told of the request's data did it (art. 19)."""
    form = {**dict(await request.form()), "task_id": str(request.path_params["task"])}
    return await _act(request, "recipient", form)


async def _act(request: Request, action: str, form: dict) -> Response:
    state = request.app.state
    result = await in_thread(
        dpo_actions.act_on_case,
        state.engine,
        request.path_params["id"],
        action,
        form,
        staff_id=request.scope["viewer"].id,
        language=i18n.current_language(),
        runtime=dpo_actions.Runtime(
            state.datamap,
            state.sources,
            state.now(),
            runtime_for(state.settings, state.datamap, state.sources),
            state.settings.duplicate_window_days,
        ),
    )
    if result is None:
        return state.render_error(request, 404)
    return respond(request, result, "dpo/request.html")


@staff_required("dpo")
async def parked(request: Request) -> Response:
    """Jobs that failed for good (e.g. a source database that refused an erasure)."""
    state = request.app.state
    tz = state.datamap.controller.time_zone
    jobs = await in_thread(parked_jobs.load_parked_jobs, state.engine, tz)
    return render(request, "dpo/jobs.html", jobs)


@staff_required("dpo")
async def retry(request: Request) -> Response:
    state = request.app.state
    done = await in_thread(
        parked_jobs.retry_job,
        state.engine,
        request.path_params["id"],
        staff_id=request.scope["viewer"].id,
        now=state.now(),
        datamap=state.datamap,
        sources=state.sources,
    )
    if done is None:
        return state.render_error(request, 404)
    return redirect(request, done)


def _records(request: Request) -> records_of_processing.RecordsOfProcessing:
    state = request.app.state
    language = i18n.current_language()
    return records_of_processing.records_of_processing(
        state.datamap, state.settings.security_measures.get(language), language, state.now()
    )


@staff_required("dpo", "admin")
async def records(request: Request) -> Response:
    """The records of processing (GDPR art. 30), from the data map."""
    return render(request, "dpo/records.html", _records(request))


@staff_required("dpo", "admin")
async def records_pdf(request: Request) -> Response:
    """The same records as a PDF, in the page's language."""
    content = _records(request)
    pdf = await in_thread(records_of_processing.render_records_pdf, content)
    disposition = f'attachment; filename="records-of-processing-{content.language}.pdf"'
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": disposition})


@staff_required("dpo")
async def audit(request: Request) -> Response:
    """The audit log, filtered and paged by the query string (ids and codes only)."""
    state = request.app.state
    page = await in_thread(
        audit_log.load_audit_log,
        state.engine,
        request.query_params,
        i18n.current_language(),
        state.datamap.controller.time_zone,
    )
    return render(request, "dpo/audit.html", page)


@staff_required("dpo")
async def dashboard(request: Request) -> Response:
    """The key figures: requests per week, times to complete, holds ending, the log's check."""
    state = request.app.state
    page = await in_thread(
        dpo_dashboard.load_dashboard,
        state.engine,
        i18n.current_language(),
        state.datamap.controller.time_zone,
        state.now(),
    )
    return render(request, "dpo/dashboard.html", page)


routes = [
    Route("/dpo/records", records),
    Route("/dpo/records.pdf", records_pdf),
    Route("/dpo", queue),
    Route("/dpo/search", search, methods=["POST"]),
    Route("/dpo/assign", assign, methods=["POST"]),
    Route("/dpo/jobs", parked),
    Route("/dpo/audit", audit),
    Route("/dpo/dashboard", dashboard),
    Route("/dpo/jobs/{id:int}/retry", retry, methods=["POST"]),
    Route("/dpo/requests/{id:int}", case),
    Route("/dpo/requests/{id:int}/letter.pdf", outcome_letter),
    Route("/dpo/requests/{id:int}/data", found_data),
    Route("/dpo/requests/{id:int}/{action:str}", act, methods=["POST"]),
    Route("/dpo/requests/{id:int}/recipients/{task:int}", recipient_done, methods=["POST"]),
]
