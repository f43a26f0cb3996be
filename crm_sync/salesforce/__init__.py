"""Everything that speaks to Salesforce (real, or the local sandbox through the very same code path)."""

from crm_sync.salesforce.accounting import ApiCallCounter, ApiCallSnapshot
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.salesforce.config import SalesforceConfig
from crm_sync.salesforce.errors import (
    ApiLimitReached,
    BulkJobFailed,
    BulkJobTimeout,
    OutcomeUnknown,
    SalesforceApiError,
    SalesforceAuthError,
    SalesforceConfigError,
    SalesforceConnectionError,
    SalesforceError,
    SalesforceSchemaError,
)
from crm_sync.salesforce.results import RecordResult

__all__ = [
    "ApiCallCounter",
    "ApiCallSnapshot",
    "ApiLimitReached",
    "BulkJobFailed",
    "BulkJobTimeout",
    "OutcomeUnknown",
    "RecordResult",
    "SalesforceApiError",
    "SalesforceAuthError",
    "SalesforceClient",
    "SalesforceConfig",
    "SalesforceConfigError",
    "SalesforceConnectionError",
    "SalesforceError",
    "SalesforceSchemaError",
]
