"""The notifiers against real servers on 127.0.0.1 started here: an SMTP server (aiosmtpd) and an HTTP
server for the Slack-style webhook. What arrives is checked, not what was called."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from airflow.sdk import DAG
from inbox import Inbox

from infra.components import secrets
from pipeline import notify
from pipeline.config import ENV

DAG_ID = "customer_analytics"
RUN_ID = "manual__2025-01-30T02:00:00+00:00"
DAG_OBJECT = DAG(dag_id=DAG_ID, schedule=None)
LOG_URL = "http://airflow.example/dags/customer_analytics/runs/manual__2025-01-30T02%3A00%3A00%2B00%3A00/tasks/clean_raw?try_number=2"


@dataclass
class Webhook:
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    port: int = 0


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def webhook_server() -> Iterator[Webhook]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.received.append({"path": self.path, "json": json.loads(body)})
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def connections(
    monkeypatch: pytest.MonkeyPatch, smtp_server: tuple[Inbox, int], webhook_server: Webhook
) -> tuple[Inbox, Webhook]:
    inbox, port = smtp_server
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@cdi.test", "timeout": 5},
    }
    webhook = {"conn_type": "http", "host": f"http://127.0.0.1:{webhook_server.port}/services/T000/B000/XXXX"}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_TEST", json.dumps(smtp))
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_TEST", json.dumps(webhook))
    return inbox, webhook_server


def failed_task_context() -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id=DAG_ID, task_id="clean_raw", run_id=RUN_ID, try_number=2, max_tries=2, log_url=LOG_URL
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "dag": DAG_OBJECT,
        "dag_run": SimpleNamespace(run_id=RUN_ID),
        "exception": RuntimeError("Batch job clean-x failed with error: executor lost"),
    }


def body_text(message: EmailMessage) -> str:
    """The HTML part."""
    return parts(message)["text/html"]


def parts(message: EmailMessage) -> dict[str, str]:
    """The parts of a multipart/alternative e-mail by type, checking that it is one: a text/plain
    and a text/html part, plain first (a client shows the last one it can). Lines end in LF (SMTP
    carried them as CRLF)."""
    assert message.get_content_type() == "multipart/alternative"
    found = [(p.get_content_type(), p.get_content().replace("\r\n", "\n")) for p in message.iter_parts()]
    assert [kind for kind, _ in found] == ["text/plain", "text/html"]
    return dict(found)


def test_failure_alert_arrives_by_email_and_webhook(connections: tuple[Inbox, Webhook]) -> None:
    inbox, webhook = connections
    notifier = notify.FailureNotifier(
        to=["oncall@cdi.test", "data@cdi.test"], smtp_conn_id="smtp_test", webhook_conn_id="slack_test"
    )
    notifier(failed_task_context())

    ((recipients, message),) = inbox.messages
    assert recipients == ["oncall@cdi.test", "data@cdi.test"]
    assert message["From"] == "airflow@cdi.test"
    assert message["Subject"] == f"[{DAG_ID}] task clean_raw failed (try 2) in run {RUN_ID}"
    text = body_text(message)
    for expected in (f"DAG: {DAG_ID}", "Task: clean_raw", f"Run: {RUN_ID}", "Try: 2 of 3", "executor lost"):
        assert expected in text
    assert LOG_URL.replace("&", "&amp;") in text
    assert parts(message)["text/plain"] == notify.failure_message(failed_task_context()).text + "\n"

    (post,) = webhook.received
    assert post["path"] == "/services/T000/B000/XXXX"
    slack = post["json"]["text"]
    assert f"Log: {LOG_URL}" in slack
    assert "Task: clean_raw" in slack
    assert "Try: 2 of 3" in slack
    assert slack.startswith(f"*[{DAG_ID}] task clean_raw failed")


class Page(HTMLParser):
    """An HTML part as a reader sees it, checking on the way that every element closes, in order:
    the text of each element with an id and of the h1, the rows of each table with an id (cell
    texts), each link's href by its text, and the style of each span by its text."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input", "col", "wbr"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, dict[str, str], list[str]]] = []
        self.text_of: dict[str, str] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.links: dict[str, str] = {}
        self.styles: dict[str, str] = {}
        self.feed(text)
        self.close()
        assert self.open == [], f"never closed: {[tag for tag, _, _ in self.open]}"

    def _table(self) -> str | None:
        return next((a.get("id") for tag, a, _ in reversed(self.open) if tag == "table"), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        attributes = {k: v or "" for k, v in attrs}
        self.open.append((tag, attributes, []))
        table = self._table()
        if tag == "tr" and table:
            self.rows.setdefault(table, []).append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.open, f"</{tag}> closes nothing"
        opened, attributes, parts = self.open.pop()
        assert opened == tag, f"</{tag}> closes <{opened}>"
        text = " ".join("".join(parts).split())
        table = self._table()
        if tag in ("td", "th") and table:
            self.rows[table][-1].append(text)
        if tag == "a":
            self.links[text] = attributes["href"]
        if tag == "span":
            self.styles[text] = attributes.get("style", "")
        if "id" in attributes:
            self.text_of[attributes["id"]] = text
        if tag == "h1":
            self.text_of["h1"] = text

    def handle_data(self, data: str) -> None:
        for _, _, parts in self.open:
            parts.append(data)


def run_summary(outcome: str, checks: list[dict[str, Any]]) -> dict[str, Any]:
    """A `report` task result as both targets make it (pipeline/report.py, pipeline/gcp/report.py)."""
    return {
        "run_id": RUN_ID,
        "outcome": outcome,
        "files": 3,
        "rows_read": 1200,
        "rows_valid": 1180,
        "rows_quarantined": 20,
        "duplicates_replaced_in_silver": 2,
        "affected_days": 4,
        "gold_rows": {"gold.aov_daily": 16, "gold.customer_rfm": 300},
        "nothing_new": None,
        "duration_seconds": 95.2,
        "data_quality": checks,
        "links": {
            "Dashboard": "file:///srv/cdi/dashboard/index.html",
            "Looker Studio": 'https://lookerstudio.google.com/reporting/create?r.reportName=x&ds.a="b"',
        },
    }


REPORT_LOG_URL = "http://airflow.example/dags/customer_analytics/runs/manual__2025-01-30T02%3A00%3A00%2B00%3A00/tasks/report?try_number=1"
RUN_PAGE = "http://airflow.example/dags/customer_analytics/runs/manual__2025-01-30T02%3A00%3A00%2B00%3A00"


def send_summary(summary: dict[str, Any]) -> None:
    ti = SimpleNamespace(
        dag_id=DAG_ID, task_id="report", log_url=REPORT_LOG_URL, xcom_pull=lambda task_ids: summary
    )
    notify.RunSummaryNotifier(to=["data@cdi.test"], smtp_conn_id="smtp_test", webhook_conn_id="slack_test")(
        {"ti": ti, "dag": DAG_OBJECT}
    )


def test_the_summary_email_has_the_figures_dq_status_and_links_as_text_and_html(
    connections: tuple[Inbox, Webhook],
) -> None:
    """A WARNING run: one warn check did not pass; its name, and a link, carry characters HTML
    must escape."""
    inbox, webhook = connections
    checks = [
        {"check_name": "accepted_values <channel>", "severity": "warn", "passed": False, "failures": 7},
        {"check_name": "not_null_customer_id", "severity": "error", "passed": True, "failures": 0},
        {"check_name": "unique_transaction_id", "severity": "error", "passed": True, "failures": 0},
    ]
    summary = run_summary("warning", checks)
    send_summary(summary)

    ((_, message),) = inbox.messages
    assert message["Subject"] == f"[{DAG_ID}] run {RUN_ID}: WARNING"
    text, html_part = parts(message)["text/plain"], parts(message)["text/html"]
    links = {**summary["links"], "Airflow logs": RUN_PAGE}

    # The text part: what the webhook posts, the counts, the DQ status and the links.
    assert webhook.received[0]["json"]["text"] == f"*{message['Subject']}*\n{text.rstrip()}"
    for expected in (
        "Outcome: WARNING",
        f"Files: {summary['files']}",
        f"Rows in: {summary['rows_read']}  valid: {summary['rows_valid']}  "
        f"quarantined: {summary['rows_quarantined']}",
        f"Days touched: {summary['affected_days']}",
        "Gold rows: aov_daily 16, customer_rfm 300",
        f"Duration: {summary['duration_seconds']} s",
        f"Data quality: 1 of {len(checks)} checks did not pass",
        f"  {checks[0]['check_name']} (warn): {checks[0]['failures']} failing rows",
        *(f"{name}: {url}" for name, url in links.items()),
    ):
        assert expected in text.splitlines(), expected

    # The HTML part: well formed, the outcome in the title in its colour, the same figures.
    page = Page(html_part)
    assert page.text_of["h1"] == f"{DAG_ID}: run {RUN_ID} WARNING"
    assert "background:#b26a00" in page.styles["WARNING"]  # the run-health page's warning colour
    gold = summary["gold_rows"]
    assert page.rows["kpis"] == [
        ["Files", str(summary["files"])],
        ["Rows in", str(summary["rows_read"])],
        ["Rows valid", str(summary["rows_valid"])],
        ["Rows quarantined", str(summary["rows_quarantined"])],
        ["Days touched", str(summary["affected_days"])],
        ["Duplicates replaced in silver", str(summary["duplicates_replaced_in_silver"])],
        *([f"Gold rows: {table.split('.')[1]}", str(n)] for table, n in sorted(gold.items())),
        ["Duration", f"{summary['duration_seconds']} s"],
    ]
    assert page.text_of["dq-status"] == f"1 of {len(checks)} checks did not pass"
    assert page.rows["dq"] == [
        ["Check", "Severity", "Failing rows"],
        [checks[0]["check_name"], "warn", str(checks[0]["failures"])],
    ]
    assert page.links == links

    # Every value escaped: the check name's brackets, the link's & and quotes.
    assert "accepted_values &lt;channel&gt;" in html_part
    assert "<channel>" not in html_part
    assert (
        'href="https://lookerstudio.google.com/reporting/create?r.reportName=x&amp;ds.a=&quot;b&quot;"'
        in (html_part)
    )


def test_a_clean_run_says_every_check_passed(connections: tuple[Inbox, Webhook]) -> None:
    inbox, _ = connections
    checks = [
        {"check_name": name, "severity": "error", "passed": True, "failures": 0}
        for name in ("not_null_customer_id", "unique_transaction_id")
    ]
    send_summary(run_summary("success", checks))

    ((_, message),) = inbox.messages
    text, html_part = parts(message)["text/plain"], parts(message)["text/html"]
    assert "Outcome: SUCCESS" in text.splitlines()
    assert f"Data quality: all {len(checks)} checks passed" in text.splitlines()
    page = Page(html_part)
    assert page.text_of["h1"].endswith("SUCCESS")
    assert "background:#2e7d32" in page.styles["SUCCESS"]
    assert page.text_of["dq-status"] == f"all {len(checks)} checks passed"
    assert "dq" not in page.rows  # no table of checks that did not pass


def test_a_summary_without_checks_or_links_leaves_those_sections_out() -> None:
    """A summary from before the report carried them (an XCom of an older run) still renders."""
    summary = {"run_id": RUN_ID, "outcome": "success", "files": 1, "gold_rows": {}}
    message = notify.summary_message(DAG_ID, summary)
    page = Page(message.html)
    assert "dq-status" not in page.text_of
    assert page.links == {}
    assert not any(line.startswith("Data quality") for line in message.lines)
    assert notify.summary_message(DAG_ID, {**summary, "data_quality": []}).lines[-1] == (
        "Data quality: no checks ran"
    )


def test_a_link_that_is_no_web_or_file_address_is_shown_not_linked() -> None:
    summary = {"run_id": RUN_ID, "outcome": "success", "links": {"Dashboard": "javascript:alert(1)"}}
    page = Page(notify.summary_message(DAG_ID, summary).html)
    assert page.links == {}
    assert page.text_of["links"] == "Dashboard: javascript:alert(1)"


def test_no_summary_for_a_failed_run(connections: tuple[Inbox, Webhook]) -> None:
    inbox, webhook = connections
    ti = SimpleNamespace(dag_id=DAG_ID, xcom_pull=lambda task_ids: {"outcome": "failed", "run_id": RUN_ID})
    notify.RunSummaryNotifier(to=["data@cdi.test"], smtp_conn_id="smtp_test", webhook_conn_id="slack_test")(
        {"ti": ti, "dag": DAG_OBJECT}
    )
    assert inbox.messages == []
    assert webhook.received == []


def test_unset_channels_are_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("CDI_ALERT_EMAILS", raising=False)
    monkeypatch.delenv(ENV["required_connections"], raising=False)
    outcome = notify.deliver(
        notify.Message("s", ("x",)), to=[], smtp_conn_id="smtp_absent", webhook_conn_id="slack_absent"
    )
    assert outcome == {"email": "skipped: no recipients", "webhook": "skipped: no connection slack_absent"}
    assert any(r.levelname == "WARNING" and "went nowhere" in r.getMessage() for r in caplog.records)


def test_a_configured_channel_without_its_connection_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The stack says which connections it made (CDI_REQUIRED_CONNECTIONS): missing is broken."""
    monkeypatch.setenv(ENV["required_connections"], "smtp_absent,slack_absent")
    with pytest.raises(RuntimeError) as err:
        notify.FailureNotifier(
            to=["oncall@cdi.test"], smtp_conn_id="smtp_absent", webhook_conn_id="slack_absent"
        )(failed_task_context())
    assert "connection smtp_absent is configured for this stack but missing" in str(err.value)
    assert "connection slack_absent is configured for this stack but missing" in str(err.value)
    assert any(r.levelname == "ERROR" and "not delivered" in r.getMessage() for r in caplog.records)


def test_a_missing_configured_channel_does_not_stop_the_other(
    connections: tuple[Inbox, Webhook], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, _ = connections
    monkeypatch.setenv(ENV["required_connections"], "smtp_test,slack_absent")
    with pytest.raises(RuntimeError, match="slack_absent is configured"):
        notify.FailureNotifier(
            to=["oncall@cdi.test"], smtp_conn_id="smtp_test", webhook_conn_id="slack_absent"
        )(failed_task_context())
    assert len(inbox.messages) == 1  # the e-mail went before the run was told about the webhook


def test_a_configured_email_channel_without_recipients_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV["required_connections"], "smtp_absent")
    monkeypatch.delenv("CDI_ALERT_EMAILS", raising=False)
    with pytest.raises(RuntimeError, match="no recipients"):
        notify.deliver(
            notify.Message("s", ("x",)), to=[], smtp_conn_id="smtp_absent", webhook_conn_id="slack_absent"
        )


def test_the_connections_pulumi_stores_deliver(
    webhook_server: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON `pulumi up` writes to Secret Manager (infra/components/secrets.py) works with the
    providers' hooks: an SMTP relay that requires a login, and a webhook URL."""
    inbox = Inbox()
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"cdi-alerts", b"s3cret"))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        smtp = secrets.smtp_connection("127.0.0.1", port, "cdi-alerts", "s3cret", "alerts@cdi.test", False)
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_STORED", smtp)
        url = f"http://127.0.0.1:{webhook_server.port}/services/T1/B1/YYYY"
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_STORED", secrets.webhook_connection(url))
        monkeypatch.setenv(ENV["required_connections"], "smtp_stored,slack_stored")
        outcome = notify.deliver(
            notify.Message("stored", ("x",)),
            to=["oncall@cdi.test"],
            smtp_conn_id="smtp_stored",
            webhook_conn_id="slack_stored",
        )
    finally:
        controller.stop()
    assert outcome == {"email": "sent", "webhook": "sent"}
    assert logins == [(b"cdi-alerts", b"s3cret")]
    assert inbox.messages[0][1]["From"] == "alerts@cdi.test"
    assert webhook_server.received[0]["path"] == "/services/T1/B1/YYYY"


def test_recipients_default_to_the_alert_emails_setting(
    connections: tuple[Inbox, Webhook], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, _ = connections
    monkeypatch.setenv("CDI_ALERT_EMAILS", "a@cdi.test,b@cdi.test")
    notify.FailureNotifier(smtp_conn_id="smtp_test", webhook_conn_id="slack_test")(failed_task_context())
    assert inbox.messages[0][0] == ["a@cdi.test", "b@cdi.test"]


def test_a_failing_channel_does_not_stop_the_other(connections: tuple[Inbox, Webhook]) -> None:
    inbox, webhook = connections
    webhook.status = 500
    with pytest.raises(RuntimeError, match="webhook"):
        notify.FailureNotifier(
            to=["oncall@cdi.test"], smtp_conn_id="smtp_test", webhook_conn_id="slack_test"
        )(failed_task_context())
    assert len(inbox.messages) == 1  # the email still went
    assert len(webhook.received) >= 1


def test_late_run_alert_from_the_triggerer(connections: tuple[Inbox, Webhook]) -> None:
    """The Deadline Alert path: the triggerer awaits the notifier with its simple context."""
    inbox, webhook = connections
    context = {
        "dag_run": {"dag_id": DAG_ID, "dag_run_id": RUN_ID, "state": "running"},
        "deadline": {"id": "d1", "deadline_time": "2025-01-30T06:00:00+00:00"},
    }

    async def fire() -> None:
        await notify.LateRunNotifier(
            promise="done within 4:00:00 of being queued",
            to=["oncall@cdi.test"],
            smtp_conn_id="smtp_test",
            webhook_conn_id="slack_test",
            context=context,
        )

    asyncio.run(fire())
    ((_, message),) = inbox.messages
    assert message["Subject"] == f"[{DAG_ID}] run {RUN_ID} is late"
    assert "Deadline: 2025-01-30T06:00:00+00:00" in body_text(message)
    assert "Deadline: 2025-01-30T06:00:00+00:00" in parts(message)["text/plain"].splitlines()
    assert "done within 4:00:00" in webhook.received[0]["json"]["text"]
