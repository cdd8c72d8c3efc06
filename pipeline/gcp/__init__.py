"""Building blocks of the gcp target: request bodies (pure functions) and the thin operators that send them.

Every module here imports without credentials or network: cloud clients are created inside
`execute()` of an operator or inside a task, never at import time.
"""

from __future__ import annotations

# Connection ids and pools are written once in `pipeline.names` (infra creates what they name).
from pipeline.names import (  # noqa: F401  (re-exported for the gcp target's modules)
    BIGQUERY_POOL,
    BIGQUERY_POOL_SLOTS,
    DASHBOARD_CONN_ID,
    DATAPROC_POOL,
    DATAPROC_POOL_SLOTS,
    GCP_CONN_ID,
)
