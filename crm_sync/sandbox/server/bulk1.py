"""Bulk API 1.0 routes under /services/async/{version}/: query jobs, their batches and results.

    POST job                              create a job (jobInfo in JSON or XML; Sforce-Enable-PKChunking)
    GET  job/{job}                        jobInfo
    POST job/{job}                        {"state": "Closed" | "Aborted"}
    POST job/{job}/batch                  add a query batch (the body is the SOQL)
    GET  job/{job}/batch                  batchInfoList
    GET  job/{job}/batch/{batch}          batchInfo
    GET  job/{job}/batch/{batch}/request  the batch's SOQL
    GET  job/{job}/batch/{batch}/result   the result Ids
    GET  job/{job}/batch/{batch}/result/{result}   a result file (JSON, XML or CSV as the job says)

Every request authenticates with `X-SFDC-Session` (or `Authorization: Bearer`) and counts one API
call, as Salesforce counts Bulk API requests; each batch also counts toward DailyBulkApiBatches.
Errors are Bulk API 1.0's own shape ({"exceptionCode", "exceptionMessage"} / <error>), status 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.server import bulk1_wire as wire
from crm_sync.sandbox.server.bulk1_jobs import Job
from crm_sync.sandbox.server.bulk1_wire import Bulk1Error
from crm_sync.sandbox.server.versions import version_error

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org
    from crm_sync.sandbox.server.auth import Session

_CONTENT = {"JSON": wire.JSON_TYPE, "XML": wire.XML_TYPE, "CSV": wire.CSV_TYPE}


def _session(org: Org, request: Request) -> Session:
    token = request.headers.get("x-sfdc-session", "").strip()
    if not token:
        scheme, _, rest = request.headers.get("authorization", "").partition(" ")
        token = rest.strip() if scheme.lower() in ("bearer", "oauth") else ""
    session = org.sessions.get(token) if token else None
    if session is None:
        raise Bulk1Error(400, "InvalidSessionId", "Invalid session id")
    return session


def _as_json(request: Request, job: Job | None = None) -> bool:
    return wire.wants_json(request.headers.get("content-type", ""), request.headers.get("accept", ""),
                           job.content_type if job else None)


async def bulk1_entry(request: Request) -> Response:
    """Every /services/async/... request: version, session, API call count, then the resource."""
    org: Org = request.app.state.org
    as_json = _as_json(request)
    try:
        version = request.path_params["version"]
        if version_error(version, prefix="") is not None:
            raise Bulk1Error(400, "InvalidVersion", f"Invalid api version specified on URL: {version}")
        session = _session(org, request)
        try:
            org.usage.spend()
        except SalesforceError as exceeded:
            raise Bulk1Error(403, "ExceededQuota", exceeded.message) from None
        parts = [p for p in request.path_params.get("rest", "").split("/") if p]
        response = await _dispatch(org, request, session, version, parts)
    except Bulk1Error as error:
        response = wire.error_response(error, as_json)
    response.headers["Sforce-Limit-Info"] = org.usage.header()
    return response


async def _dispatch(org: Org, request: Request, session: Session, version: str, parts: list[str]) -> Response:
    jobs = org.bulk1
    method = request.method
    if parts == ["job"] and method == "POST":
        as_json = _as_json(request)
        body = wire.parse_job_request(await request.body(), as_json)
        job = jobs.create_job(body, user_id=session.user_id, api_version=version,
                              pk_chunking=request.headers.get("sforce-enable-pkchunking"))
        return wire.info_response("jobInfo", job.info(), as_json, 201)
    if len(parts) < 2 or parts[0] != "job":
        raise _unknown(request)
    job = jobs.get_job(parts[1])
    as_json = _as_json(request, job)
    tail = parts[2:]
    if not tail and method == "GET":
        return wire.info_response("jobInfo", job.info(), as_json)
    if not tail and method == "POST":
        state = wire.parse_job_request(await request.body(), as_json).get("state", "")
        jobs.change_state(job, str(state))
        return wire.info_response("jobInfo", job.info(), as_json)
    if tail == ["batch"] and method == "POST":
        soql = (await request.body()).decode("utf-8", errors="replace")
        batch = await run_in_threadpool(jobs.add_batch, job, soql)
        return wire.info_response("batchInfo", batch.info(), as_json, 201)
    if tail == ["batch"] and method == "GET":
        return wire.batch_list_response([b.info() for b in jobs.batches(job)], as_json)
    if len(tail) >= 2 and tail[0] == "batch" and method == "GET":
        batch = jobs.get_batch(job, tail[1])
        rest = tail[2:]
        if not rest:
            return wire.info_response("batchInfo", batch.info(), as_json)
        if rest == ["request"]:
            return Response(batch.query.encode("utf-8"), media_type="text/plain;charset=UTF-8")
        if rest == ["result"]:
            return wire.result_list_response(jobs.result_ids(job, batch), as_json)
        if len(rest) == 2 and rest[0] == "result":
            path = jobs.result_path(job, batch, rest[1])
            return FileResponse(path, media_type=_CONTENT[job.content_type])
    raise _unknown(request)


def _unknown(request: Request) -> Bulk1Error:
    return Bulk1Error(404, "InvalidUrl", f"{request.method} {request.url.path} is not a Bulk API 1.0 resource "
                                         "of the crm_sync sandbox (it serves query jobs, batches and results)")


def bulk1_routes() -> list[Route]:
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [Route("/services/async/{version}/{rest:path}", bulk1_entry, methods=methods),
            Route("/services/async/{version}", bulk1_entry, methods=methods)]
