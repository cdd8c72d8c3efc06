"""BigQuery: the datasets and every table of `sql/schemas/`, built from `sql.catalog`.

Schemas, partitioning, clustering and `require_partition_filter` come from the catalog (the same
files Spark, DuckDB and the load jobs read); nothing here repeats a column. Access is through
dataset-level IAM from `iam/bindings.yaml`, never through dataset ACL entries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.iamdata import IamData
from sql.catalog import Table

_TIME_TYPES = ("DATE", "TIMESTAMP", "DATETIME")


def table_kind(table: Table) -> str:
    """`fact` for tables with a time grain (partitioned, or a date in the key), else `dimension`/`audit`."""
    if table.dataset == "audit":
        return "audit"
    dated_key = any(table.field(column).type in _TIME_TYPES for column in table.key)
    return "fact" if table.partition_field or dated_key else "dimension"


def schema_json(table: Table) -> str:
    """The schema file as BigQuery wants it, serialised the same way on every run."""
    return json.dumps(table.schema_json(), sort_keys=True, separators=(",", ":"))


class WarehouseArgs(TypedDict):
    project: pulumi.Input[str]
    """Project id."""
    location: str
    """BigQuery location of every dataset, e.g. `EU`."""
    datasets: Sequence[str]
    """Dataset ids (`sql.catalog.DATASETS`)."""
    tables: Sequence[Table]
    """Every table to create (`sql.catalog.tables()`)."""
    labels: Mapping[str, str]
    """Labels of every dataset and table."""
    kms_key: pulumi.Input[str] | None
    """CMEK key id for datasets and tables, or None for Google-managed keys."""
    deletion_protection: bool
    """Refuse to drop tables and non-empty datasets."""
    time_travel_hours: int
    """Time-travel window of every dataset (48 to 168 hours)."""
    iam: IamData
    """The parsed IAM data file."""
    members: Mapping[str, pulumi.Input[str]]
    """Member key -> IAM member string (from `Identity.members`)."""


class Warehouse(pulumi.ComponentResource):
    """Datasets `silver`, `gold`, `audit` and their tables."""

    dataset_ids: dict[str, pulumi.Output[str]]
    table_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: WarehouseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:warehouse:Warehouse", name, {}, opts)
        protect = args["deletion_protection"]
        kms = args["kms_key"]
        labels = dict(args["labels"])
        datasets: dict[str, gcp.bigquery.Dataset] = {}
        for dataset_id in args["datasets"]:
            datasets[dataset_id] = gcp.bigquery.Dataset(
                f"{name}-{dataset_id}",
                dataset_id=dataset_id,
                project=args["project"],
                location=args["location"],
                friendly_name=dataset_id,
                description=f"Customer analytics: {dataset_id} layer",
                labels={**labels, "layer": dataset_id},
                max_time_travel_hours=str(args["time_travel_hours"]),
                default_encryption_configuration=(
                    gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=kms) if kms else None
                ),
                delete_contents_on_destroy=not protect,
                deletion_policy="PREVENT" if protect else "DELETE",
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )

        tables: dict[str, gcp.bigquery.Table] = {}
        for table in args["tables"]:
            if table.dataset not in datasets:
                raise ValueError(f"table {table.qualified_name}: dataset {table.dataset!r} is not created")
            partitioning = (
                gcp.bigquery.TableTimePartitioningArgs(
                    type=table.partition_type or "DAY", field=table.partition_field
                )
                if table.partition_field
                else None
            )
            tables[table.qualified_name] = gcp.bigquery.Table(
                f"{name}-{table.dataset}-{table.name}",
                project=args["project"],
                dataset_id=datasets[table.dataset].dataset_id,
                table_id=table.name,
                description=f"Schema: sql/schemas/{table.dataset}/{table.name}.json",
                schema=schema_json(table),
                time_partitioning=partitioning,
                require_partition_filter=table.require_partition_filter if table.partition_field else None,
                clusterings=list(table.clustering) or None,
                labels={**labels, "layer": table.dataset, "kind": table_kind(table)},
                encryption_configuration=(
                    gcp.bigquery.TableEncryptionConfigurationArgs(kms_key_name=kms) if kms else None
                ),
                deletion_protection=protect,
                deletion_policy="PREVENT" if protect else "DELETE",
                opts=pulumi.ResourceOptions(parent=self, protect=protect),
            )

        for binding in args["iam"].bindings_for("dataset"):
            if binding.target not in datasets:
                raise ValueError(f"iam binding {binding.slug}: no dataset {binding.target!r}")
            gcp.bigquery.DatasetIamMember(
                f"{name}-{binding.slug}",
                project=args["project"],
                dataset_id=datasets[binding.target].dataset_id,
                role=binding.role,
                member=args["members"][binding.member],
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.dataset_ids = {key: ds.dataset_id for key, ds in datasets.items()}
        self.table_ids = {key: t.id for key, t in tables.items()}
        self.register_outputs({"dataset_ids": self.dataset_ids, "table_ids": self.table_ids})
