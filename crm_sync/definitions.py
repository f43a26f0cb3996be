"""The one Definitions object of crm_sync: the only place where assets, checks, jobs and resources meet."""

from __future__ import annotations

import dagster as dg

defs = dg.Definitions()
