"""Building blocks of the gcp target: request bodies (pure functions) and the thin operators that send them.

Every module here imports without credentials or network: cloud clients are created inside
`execute()` of an operator or inside a task, never at import time.
"""

from __future__ import annotations

# Airflow connection ids (Composer: the default GCP connection uses the environment's service account).
GCP_CONN_ID = "google_cloud_default"
DASHBOARD_CONN_ID = "dashboard_refresh"
"""HTTP connection of the dashboard-refresh webhook; the publish step is skipped when it is not set."""

# Pools: BigQuery jobs of every run share a few slots, so a burst of runs cannot hit the
# concurrent-DML or table-update quotas; one Dataproc batch at a time. `pulumi up` creates them in
# the Airflow of Composer with these names and slots (infra/components/airflow_pools.py, through
# the Airflow REST API); the offline end-to-end test's runner creates them in its own Airflow.
BIGQUERY_POOL = "customer_analytics_bigquery"
BIGQUERY_POOL_SLOTS = 4
DATAPROC_POOL = "customer_analytics_dataproc"
DATAPROC_POOL_SLOTS = 1
