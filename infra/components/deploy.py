"""Code deployment: the DAG folder to the Composer bucket, the Spark job to the artifacts bucket.

Each file is one `BucketObject` from a `FileAsset`, named by its object path, so an unchanged file
is an unchanged resource (see `infra/artifacts.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from infra.artifacts import DAG_PREFIX, Artifact, airflowignore


class CodeDeployArgs(TypedDict):
    composer_bucket: pulumi.Input[str]
    """The Composer environment's bucket (DAGs go under `dags/`)."""
    artifacts_bucket: pulumi.Input[str]
    """Bucket of the packaged Spark job."""
    dag_files: Sequence[Artifact]
    """`infra.artifacts.dag_artifacts()` and `infra.artifacts.page_assets()`."""
    spark_files: Sequence[Artifact]
    """`infra.artifacts.spark_artifacts()`."""


class CodeDeploy(pulumi.ComponentResource):
    """Uploads the artefacts; exports the DAG folder and the Spark job URI."""

    dag_folder: pulumi.Output[str]
    spark_job_uri: pulumi.Output[str]

    def __init__(self, name: str, args: CodeDeployArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cdi:deploy:CodeDeploy", name, {}, opts)
        targets = [(args["composer_bucket"], a) for a in args["dag_files"]]
        targets += [(args["artifacts_bucket"], a) for a in args["spark_files"]]
        for bucket, artifact in targets:
            gcp.storage.BucketObject(
                f"{name}-{artifact.object_name}",
                bucket=bucket,
                name=artifact.object_name,
                source=pulumi.FileAsset(str(artifact.path)),
                content_type=artifact.content_type,
                opts=pulumi.ResourceOptions(parent=self),
            )
        ignore_name = f"{DAG_PREFIX}/.airflowignore"
        gcp.storage.BucketObject(
            f"{name}-{ignore_name}",
            bucket=args["composer_bucket"],
            name=ignore_name,
            source=pulumi.StringAsset(airflowignore(args["dag_files"])),
            content_type="text/plain",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dag_folder = pulumi.Output.concat("gs://", args["composer_bucket"], f"/{DAG_PREFIX}")
        job = next((a for a in args["spark_files"] if a.path.suffix == ".py"), None)
        self.spark_job_uri = (
            pulumi.Output.concat("gs://", args["artifacts_bucket"], f"/{job.object_name}")
            if job
            else pulumi.Output.from_input("")
        )
        self.register_outputs({"dag_folder": self.dag_folder, "spark_job_uri": self.spark_job_uri})
