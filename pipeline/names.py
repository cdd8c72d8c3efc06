"""Names that cross the layers, written once: the DAG uses them and infra creates what they name.

Names that differ per environment (buckets, the landing subscription, the batch service account,
the subnet) are not here: infra creates those resources and hands their names to the DAG through
the Composer environment's variables (`pipeline.config.ENV`, set by `infra.stack.dag_environment`).
What is here is the same in every environment: Airflow connection ids and pools (which live inside
Composer's Airflow, not in the GCP project) and the object names of the packaged Spark job.
`tests/gcp/test_contract.py` checks each of them against the mocked dev and prod stacks.
"""

from __future__ import annotations

# --- Airflow connections ------------------------------------------------------------------------
GCP_CONN_ID = "google_cloud_default"
"""Google APIs as the environment's service account: Composer configures this connection when it
creates an environment, so no stack creates it
(https://cloud.google.com/composer/docs/composer-3/access-resources-in-another-project)."""
SMTP_CONN_ID = "smtp_default"
"""SMTP server of the failure and run-summary e-mails (`pipeline.notify`)."""
WEBHOOK_CONN_ID = "slack_alerts"
"""HTTP connection whose host is the Slack-style incoming webhook (`pipeline.notify`)."""
DASHBOARD_CONN_ID = "dashboard_refresh"
"""HTTP connection of the dashboard-refresh webhook; the publish step is skipped when it is not set."""

COMPOSER_CONNECTIONS = frozenset({GCP_CONN_ID})
"""Connections Composer creates in every environment."""
STACK_CONNECTIONS = (SMTP_CONN_ID, WEBHOOK_CONN_ID, DASHBOARD_CONN_ID)
"""Connections the stack must provide (Composer's Secret Manager backend reads them from secrets
named `airflow-connections-<conn_id>`)."""
CONNECTIONS = (GCP_CONN_ID, *STACK_CONNECTIONS)
"""Every connection the DAG reads."""

# --- Airflow pools --------------------------------------------------------------------------------
# BigQuery jobs of every run share a few slots, so a burst of runs cannot hit the concurrent-DML or
# table-update quotas; one Dataproc batch at a time. `pulumi up` creates them in the Airflow of
# Composer with these names and slots (infra/components/airflow_pools.py, through the Airflow REST
# API); the offline end-to-end test's runner creates them in its own Airflow.
BIGQUERY_POOL = "customer_analytics_bigquery"
BIGQUERY_POOL_SLOTS = 4
DATAPROC_POOL = "customer_analytics_dataproc"
DATAPROC_POOL_SLOTS = 1
POOLS = {BIGQUERY_POOL: BIGQUERY_POOL_SLOTS, DATAPROC_POOL: DATAPROC_POOL_SLOTS}
"""Pool name -> slots, as infra creates them."""

# --- the packaged Spark job -----------------------------------------------------------------------
JOB_MAIN = "spark/job.py"
"""Object of the job's entry point in the artifacts bucket (`spark/package.py` builds `job.py`)."""
JOB_ZIP = "spark/cdi_spark.zip"
"""Object of the job's package zip (`--py-files`) in the artifacts bucket."""
