"""Where the cleaning job runs on GCP, written down once.

Dataproc Serverless (now "Serverless for Apache Spark") runtime **3.0** is the runtime with
Spark 4: Apache Spark 4.0.1, Python 3.12, Java 21, Scala 2.13, Cloud Storage connector 3.1
(runtime 3.0 component table, docs.cloud.google.com/managed-spark/docs/concepts/versions/
spark-runtime-3.0, release 3.0.14 of 2026-08-25). No runtime ships Spark 4.3 or Python 3.11, so
the local pairing (pyspark 4.3.0 on Python 3.11, pinned in pyproject.toml) is the nearest
match, not an exact one: the job uses only Spark 4.0 SQL functions (`is_valid_utf8`,
`try_to_date`, `Column.try_cast`, ...) and pure-Python code that runs on 3.11 and 3.12. Pinning
pyspark to 4.0.x locally would make the pairing exact; the earlier runtimes (2.2 / 2.3: Spark
3.5) lack functions the job needs.

Runtime minor versions are not pinnable on 3.0 (sub-minor updates roll out automatically).
"""

from __future__ import annotations

DATAPROC_RUNTIME_VERSION = "3.0"
"""`RuntimeConfig.version` of the Dataproc Serverless batch (gcloud `--version`)."""

RUNTIME_SPARK_VERSION = "4.0.1"
RUNTIME_PYTHON_VERSION = "3.12"
RUNTIME_JAVA_VERSION = "21"

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
