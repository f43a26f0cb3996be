"""The admin surface under /__sandbox__/ (JSON, no auth, loopback clients only; never counted as API use).

    GET    health                   liveness
    GET    counts                   live records per object
    GET    api-usage                {"used", "max", "remaining"}
    POST   limits                   {"daily_api_requests"?, "used"?}
    POST   automation               {"object", "ids"?, "limit"?, "changes"?} -> {"ids"}
    POST   records/{obj}            {"as_user", "op"?: create|update|delete|undelete|hard_delete, "id"?,
                                     "values"?} -> {"id"}; hard_delete skips the recycle bin: never in
                                     queryAll again, listed by getDeleted (/deleted) in its window
    POST   recycle-bin/empty        {"ids"?} -> {"ids"}: purge those records (or the whole bin) as
                                     emptyRecycleBin does: gone from queryAll, still listed by getDeleted
    GET    faults                   settings, pending one-shot faults, injected counts
    POST   faults                   {"spec"?: "rate_503=0.1,...", "settings"?: {...},
                                     "one_shots"?: [{"path", "kind", "count"?, "method"?}]}
    DELETE faults                   no faults any more
    POST   reset                    empty org (users kept), rules, cursors, bulk jobs and API usage cleared
    POST   seed                     {"records", "seed"?} -> records made per object
    GET    rules                    the rules document
    POST   rules                    {"kind": validation|required|duplicate, "object", "field", ...}
    PUT    rules                    replace all rules by a rules document
    DELETE rules[/{name}]           remove one rule, or all
    POST   expire-sessions          every current session becomes invalid -> {"expired"}
    POST   refresh-tokens           {"as_user"?} -> {"refresh_token"}: what a web-server-flow login would
                                     issue, for the OAuth refresh_token grant (revoked by a credentials rotation)
    GET    clock                    the org's time -> {"now", "offset_seconds"}
    POST   clock                    {"offset_seconds"}: shift the org's time from the real clock (tests)
    POST   credentials              {"rotate": true} -> the new {"username", "password", "security_token",
                                     "client_id", "client_secret", "org_id"}: new password, security token and
                                     client secret (saved, sandbox.json rewritten), every session revoked
    GET    fields                   hidden fields -> {"hidden": [{"object", "field"}]}
    DELETE fields/{obj}/{field}     hide a non-system field from describe, SOQL, writes and Bulk (data kept)
    PUT    fields/{obj}/{field}     restore a hidden field, with its data
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sync.sandbox import timefmt
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.server.faults import FaultConfig
from crm_sync.sandbox.server.responses import error_response, json_response

if TYPE_CHECKING:
    from crm_sync.sandbox.org import Org

log = logging.getLogger("crm_sync.sandbox.admin")
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _bad_request(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_ADMIN_REQUEST", message)


async def _body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad_request(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _bad_request("the body must be a JSON object")
    return data


def _admin(handler: Callable[[Org, Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
    """Loopback check, errors in Salesforce's shape, result as JSON."""

    async def endpoint(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            return error_response(SalesforceError(403, "FORBIDDEN", "The admin surface answers loopback clients only"))
        try:
            return json_response(await handler(request.app.state.org, request))
        except SalesforceError as error:
            return error_response(error)
        except (ValueError, KeyError, TypeError) as exc:
            return error_response(_bad_request(str(exc)))

    return endpoint


async def health(org: Org, request: Request) -> dict:
    return {"ok": True}


async def counts(org: Org, request: Request) -> dict:
    return await run_in_threadpool(org.store.counts)


async def api_usage(org: Org, request: Request) -> dict:
    return org.usage.snapshot()


async def set_limits(org: Org, request: Request) -> dict:
    body = await _body(request)
    daily = body.get("daily_api_requests")
    used = body.get("used")
    org.usage.set(daily_max=int(daily) if daily is not None else None, used=int(used) if used is not None else None)
    return org.usage.snapshot()


async def automation(org: Org, request: Request) -> dict:
    body = await _body(request)
    obj = body.get("object")
    if not obj:
        raise _bad_request("automation needs an object")
    limit = body.get("limit")
    changed = await run_in_threadpool(
        org.store.run_automation, str(obj), ids=body.get("ids"),
        limit=int(limit) if limit is not None else None, changes=body.get("changes"))
    return {"ids": changed}


async def records(org: Org, request: Request) -> dict:
    body = await _body(request)
    obj = request.path_params["obj"]
    username = body.get("as_user")
    user_id = await run_in_threadpool(org.user_id, str(username)) if username else org.store.integration_user_id
    record_id = body.get("id")
    values = body.get("values")
    operation = body.get("op") or ("update" if record_id else "create")
    store = org.store
    if operation == "create":
        new_id = await run_in_threadpool(lambda: store.create(obj, values or {}, user_id=user_id))
        return {"id": new_id}
    if not record_id:
        raise _bad_request(f"{operation} needs an id")
    if operation == "update":
        await run_in_threadpool(lambda: store.update(obj, record_id, values or {}, user_id=user_id))
    elif operation == "delete":
        await run_in_threadpool(lambda: store.delete(obj, record_id, user_id=user_id))
    elif operation == "undelete":
        await run_in_threadpool(lambda: store.undelete(obj, record_id, user_id=user_id))
    elif operation == "hard_delete":
        await run_in_threadpool(lambda: store.hard_delete(obj, record_id, user_id=user_id))
    else:
        raise _bad_request(f"unknown op {operation!r}: use create, update, delete, undelete or hard_delete")
    return {"id": record_id}


async def empty_recycle_bin(org: Org, request: Request) -> dict:
    body = await _body(request)
    ids = body.get("ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise _bad_request("recycle-bin/empty takes {\"ids\": [record Ids]} or no ids (the whole bin)")
    return {"ids": await run_in_threadpool(org.store.empty_recycle_bin, ids)}


async def get_faults(org: Org, request: Request) -> dict:
    return org.faults.to_dict()


async def set_faults(org: Org, request: Request) -> dict:
    body = await _body(request)
    settings: dict = {}
    if body.get("spec"):
        spec = FaultConfig.parse(str(body["spec"]))
        given = [part.partition("=")[0].strip() for part in str(body["spec"]).split(",") if part.strip()]
        settings.update({key: getattr(spec, key) for key in given})
    settings.update(body.get("settings") or {})
    if settings:
        org.faults.configure(settings)
    for entry in body.get("one_shots") or []:
        org.faults.add_one_shot(str(entry["path"]), str(entry["kind"]), int(entry.get("count", 1)),
                                entry.get("method"))
    log.info("faults now %s", org.faults.config.to_spec())
    return org.faults.to_dict()


async def clear_faults(org: Org, request: Request) -> dict:
    org.faults.clear()
    return org.faults.to_dict()


async def reset(org: Org, request: Request) -> dict:
    await run_in_threadpool(org.reset)
    return await run_in_threadpool(org.store.counts)


async def seed(org: Org, request: Request) -> dict:
    body = await _body(request)
    count = int(body.get("records", 0))
    if count < 0:
        raise _bad_request("records must be >= 0")
    return await run_in_threadpool(org.seed, count, int(body.get("seed", 1)))


async def get_rules(org: Org, request: Request) -> dict:
    return org.store.rules.to_dict()


async def add_rule(org: Org, request: Request) -> dict:
    body = await _body(request)
    kind = body.get("kind")
    rules = org.store.rules
    obj, field = str(body.get("object", "")), str(body.get("field", ""))
    if kind == "validation":
        rule = await run_in_threadpool(lambda: rules.add_validation_rule(
            obj, str(body.get("name", "")), field, operator=str(body.get("operator", "")),
            value=body.get("value"), message=str(body.get("message", ""))))
    elif kind == "required":
        rule = await run_in_threadpool(rules.require_field, obj, field)
    elif kind == "duplicate":
        rule = await run_in_threadpool(rules.add_duplicate_rule, obj, field)
    else:
        raise _bad_request(f"unknown rule kind {kind!r}: use validation, required or duplicate")
    return {"name": rule.name, "rules": rules.to_dict()}


async def replace_rules(org: Org, request: Request) -> dict:
    body = await _body(request)
    await run_in_threadpool(org.store.rules.from_dict, body)
    return org.store.rules.to_dict()


async def delete_rules(org: Org, request: Request) -> dict:
    name = request.path_params.get("name")
    if name:
        await run_in_threadpool(org.store.rules.remove, name)
    else:
        await run_in_threadpool(org.store.rules.clear)
    return org.store.rules.to_dict()


async def expire_sessions(org: Org, request: Request) -> dict:
    return {"expired": org.sessions.expire_all()}


async def mint_refresh_token(org: Org, request: Request) -> dict:
    body = await _body(request)
    username = body.get("as_user")
    user_id = await run_in_threadpool(org.user_id, str(username)) if username else str(org.login_user()["Id"])
    return {"refresh_token": org.sessions.issue_refresh_token(user_id)}


def _clock(org: Org) -> dict:
    return {"now": timefmt.format_datetime(org.now()), "offset_seconds": org.clock_offset.total_seconds()}


async def get_clock(org: Org, request: Request) -> dict:
    return _clock(org)


async def set_clock(org: Org, request: Request) -> dict:
    body = await _body(request)
    if "offset_seconds" not in body:
        raise _bad_request("clock needs offset_seconds (a number, may be negative)")
    org.set_clock_offset(timedelta(seconds=float(body["offset_seconds"])))
    return _clock(org)


async def credentials(org: Org, request: Request) -> dict:
    body = await _body(request)
    if body.get("rotate") is not True:
        raise _bad_request('credentials takes {"rotate": true}')
    rotated = await run_in_threadpool(org.rotate_credentials)
    user = await run_in_threadpool(org.login_user)
    return {"username": user["Username"], "password": rotated.password, "security_token": rotated.security_token,
            "client_id": rotated.client_id, "client_secret": rotated.client_secret, "org_id": rotated.org_id}


async def hidden_fields(org: Org, request: Request) -> dict:
    return {"hidden": org.hidden_fields()}


async def hide_field(org: Org, request: Request) -> dict:
    params = request.path_params
    return {"hidden": await run_in_threadpool(org.hide_field, params["obj"], params["field"])}


async def restore_field(org: Org, request: Request) -> dict:
    params = request.path_params
    return {"hidden": await run_in_threadpool(org.restore_field, params["obj"], params["field"])}


def admin_routes() -> list[Route]:
    def route(path: str, handler: Callable, methods: list[str]) -> Route:
        return Route(f"/__sandbox__/{path}", _admin(handler), methods=methods)

    return [
        route("health", health, ["GET"]),
        route("counts", counts, ["GET"]),
        route("api-usage", api_usage, ["GET"]),
        route("limits", set_limits, ["POST"]),
        route("automation", automation, ["POST"]),
        route("records/{obj}", records, ["POST"]),
        route("recycle-bin/empty", empty_recycle_bin, ["POST"]),
        route("faults", get_faults, ["GET"]),
        route("faults", set_faults, ["POST"]),
        route("faults", clear_faults, ["DELETE"]),
        route("reset", reset, ["POST"]),
        route("seed", seed, ["POST"]),
        route("rules", get_rules, ["GET"]),
        route("rules", add_rule, ["POST"]),
        route("rules", replace_rules, ["PUT"]),
        route("rules", delete_rules, ["DELETE"]),
        route("rules/{name}", delete_rules, ["DELETE"]),
        route("expire-sessions", expire_sessions, ["POST"]),
        route("refresh-tokens", mint_refresh_token, ["POST"]),
        route("clock", get_clock, ["GET"]),
        route("clock", set_clock, ["POST"]),
        route("credentials", credentials, ["POST"]),
        route("fields", hidden_fields, ["GET"]),
        route("fields/{obj}/{field}", hide_field, ["DELETE"]),
        route("fields/{obj}/{field}", restore_field, ["PUT"]),
    ]
