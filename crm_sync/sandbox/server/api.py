"""The one router of the REST and Bulk API: REST resources, composite and Bulk API 2.0 jobs."""

from __future__ import annotations

from crm_sync.sandbox.errors import SalesforceError, not_supported
from crm_sync.sandbox.server import bulk, composite, rest
from crm_sync.sandbox.server.dispatch import ApiRouter


def unsupported_resource(path: str) -> SalesforceError | None:
    """NOT_SUPPORTED_BY_SANDBOX for a Salesforce resource outside the sandbox's subset, else None."""
    parts = path.strip("/").split("/")
    if parts[0] in rest.UNSUPPORTED_RESOURCES:
        return not_supported(f"The REST resource /{parts[0]}")
    if parts[0] == "sobjects" and len(parts) >= 3:
        tail = "/".join(parts[2:])
        if any(tail == name or tail.startswith(name + "/") for name in rest.UNSUPPORTED_SOBJECT_RESOURCES):
            return not_supported(f"The sObject resource /sobjects/{parts[1]}/{tail}")
    return None


API_ROUTER = ApiRouter(unsupported_resource)
for _part in (composite.router, bulk.router, rest.router):
    API_ROUTER.extend(_part)
