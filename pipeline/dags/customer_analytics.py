"""Airflow entry point: the `customer_analytics` DAG for the target in `CDI_TARGET` (airflow dag)."""

from pipeline.dag import build_dag

dag = build_dag()
