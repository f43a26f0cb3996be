"""Bulk API 2.0 resources under /services/data/vXX.X/jobs/: query jobs and ingest jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response, StreamingResponse

from crm_sync.sandbox.errors import SalesforceError, not_supported
from crm_sync.sandbox.server.bulk_jobs import IngestJob, QueryJob
from crm_sync.sandbox.server.dispatch import ApiRequest, ApiResult, ApiRouter

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

router = ApiRouter()
CSV_TYPE = "text/csv"
INGEST_RESULTS = {"successfulresults": "successfulResults", "failedresults": "failedResults",
                  "unprocessedrecords": "unprocessedrecords"}


def _job_list(jobs: list) -> dict:
    return {"done": True, "records": [job.info(full=False) for job in jobs], "nextRecordsUrl": None}


def _state_change(req: ApiRequest) -> str:
    body = req.json_object()
    state = body.get("state")
    if not isinstance(state, str):
        raise SalesforceError(400, "INVALIDJOBSTATE", "A state change needs a state")
    return state


# ----- query jobs ---------------------------------------------------------------------------------

@router.route("POST", "jobs/query")
def create_query_job(org: Org, req: ApiRequest) -> ApiResult:
    job = org.bulk.create_query_job(req.json_object(), user_id=req.user_id, api_version=req.version)
    return ApiResult(200, job.info(full=False))


@router.route("GET", "jobs/query")
def list_query_jobs(org: Org, req: ApiRequest) -> ApiResult:
    return ApiResult(body=_job_list(org.bulk.list(QueryJob)))


@router.route("GET", "jobs/query/{job_id}")
def get_query_job(org: Org, req: ApiRequest, job_id: str) -> ApiResult:
    return ApiResult(body=org.bulk.get(job_id, QueryJob).info())


@router.route("PATCH", "jobs/query/{job_id}")
def patch_query_job(org: Org, req: ApiRequest, job_id: str) -> ApiResult:
    job = org.bulk.get(job_id, QueryJob)
    state = _state_change(req)
    if state != "Aborted":
        raise SalesforceError(400, "INVALIDJOBSTATE", f"A query job can only be Aborted, not set to {state}")
    org.bulk.change_state(job, state)
    return ApiResult(body=job.info(full=False))


@router.route("DELETE", "jobs/query/{job_id}")
def delete_query_job(org: Org, req: ApiRequest, job_id: str) -> ApiResult:
    org.bulk.delete(job_id, QueryJob)
    return ApiResult(204)


@router.route("GET", "jobs/query/{job_id}/results")
def query_job_results(org: Org, req: ApiRequest, job_id: str) -> Response:
    """A page of results as CSV; `Sforce-Locator` names the next page ("null" on the last)."""
    job = org.bulk.get(job_id, QueryJob)
    chunks, length, records, next_locator = org.bulk.results_page(
        job, req.param("locator"), req.param("maxRecords"))
    headers = {"Content-Length": str(length), "Sforce-Locator": next_locator,
               "Sforce-NumberOfRecords": str(records)}
    if req.method == "HEAD":
        return Response(b"", headers=headers, media_type=CSV_TYPE)
    return StreamingResponse(chunks, headers=headers, media_type=CSV_TYPE)


# ----- ingest jobs --------------------------------------------------------------------------------

@router.route("POST", "jobs/ingest")
def create_ingest_job(org: Org, req: ApiRequest) -> ApiResult:
    content_type = req.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/"):
        raise not_supported("Creating an ingest job with its data in one multipart request")
    job = org.bulk.create_ingest_job(req.json_object(), user_id=req.user_id, api_version=req.version)
    return ApiResult(200, job.info(full=False))


@router.route("GET", "jobs/ingest")
def list_ingest_jobs(org: Org, req: ApiRequest) -> ApiResult:
    return ApiResult(body=_job_list(org.bulk.list(IngestJob)))


@router.route("GET", "jobs/ingest/{job_id}")
def get_ingest_job(org: Org, req: ApiRequest, job_id: str) -> ApiResult:
    return ApiResult(body=org.bulk.get(job_id, IngestJob).info())


@router.route("PATCH", "jobs/ingest/{job_id}")
def patch_ingest_job(org: Org, req: ApiRequest, job_id: str) -> ApiResult:
    job = org.bulk.get(job_id, IngestJob)
    org.bulk.change_state(job, _state_change(req))
    return ApiResult(body=job.info(full=False))


@router.route("DELETE", "jobs/ingest/{job_id}")
def delete_ingest_job(org: Org, req: ApiRequest, job_id: str) -> ApiResult:
    org.bulk.delete(job_id, IngestJob)
    return ApiResult(204)


@router.route("PUT", "jobs/ingest/{job_id}/batches")
def upload_ingest_data(org: Org, req: ApiRequest, job_id: str) -> ApiResult:
    job = org.bulk.get(job_id, IngestJob)
    org.bulk.upload(job, req.body)
    return ApiResult(201)


@router.route("GET", "jobs/ingest/{job_id}/{kind}")
def ingest_job_results(org: Org, req: ApiRequest, job_id: str, kind: str) -> Response:
    name = INGEST_RESULTS.get(kind.lower())
    job = org.bulk.get(job_id, IngestJob)
    if name is None:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    return Response(org.bulk.ingest_results(job, name), media_type=CSV_TYPE)
