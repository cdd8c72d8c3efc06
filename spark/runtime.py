"""Where the cleaning job runs on GCP: the Dataproc Serverless runtime, from the version matrix.

The runtime and its Spark, Python and Java versions are written once, in `versions.toml` (`[dataproc]`,
with the Google page each value comes from), and read here through `pipeline.versions`. Runtime 3.0
is the runtime with Spark 4; the local lock pins pyspark at its Spark version (tests/test_versions.py
checks it), so a Spark feature newer than the runtime's fails locally too. Python differs (3.11 locally
and on Composer, 3.12 on the runtime): the job's own code runs on both.

Read by the DAG and `spark/package.py`, never by the job on Dataproc: the packaged job
(`spark/job.py` and the zip) imports nothing from here, so it needs neither `pipeline` nor the matrix
at run time (tests/spark/test_spark_package.py starts it from the zip alone).

Runtime minor versions are not pinnable on 3.0 (sub-minor updates roll out automatically).
"""

from __future__ import annotations

from pipeline.versions import MATRIX

DATAPROC_RUNTIME_VERSION = MATRIX.dataproc.runtime
"""`RuntimeConfig.version` of the Dataproc Serverless batch (gcloud `--version`)."""

RUNTIME_SPARK_VERSION = MATRIX.dataproc.spark
RUNTIME_PYTHON_VERSION = MATRIX.dataproc.python
RUNTIME_JAVA_VERSION = MATRIX.dataproc.java

# The artifacts `spark/package.py` builds, relative to the repository root.
ENTRY_FILE = "dist/spark/job.py"
PY_FILES_ZIP = "dist/spark/cdi_spark.zip"

JVM_OPTIONS = "-XX:-DontCompileHugeMethods -XX:+UseParallelGC"
"""Extra JVM options of the driver and executors.

- Whole-stage code generation turns the cleaning rules into one generated method of about 47 KB;
  HotSpot leaves methods over 8 KB interpreted unless told otherwise, which made the clean step
  about twice as slow.
- The job is a batch that wants throughput, not short pauses: the parallel collector instead of
  G1 took a 10M-row run from 163-177 s to 151 s and its peak RSS from 4.9 to 3.7 GiB."""
