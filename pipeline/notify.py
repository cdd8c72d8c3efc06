"""Alerts of `customer_analytics`, the same for both targets: Airflow 3 notifiers.

- `FailureNotifier` (every task's `on_failure_callback`): names the DAG, task, run, try and log URL,
  with the error.
- `RunSummaryNotifier` (the `report` task's `on_success_callback`): the run's counts (files, rows in /
  valid / quarantined, days touched, gold rows, duration), unless the run failed (the failure alert
  went already).
- `LateRunNotifier` (a Deadline Alert callback, run in the triggerer): a run still not done in time.

Each message goes to every channel that has a connection: email (a plain-text part and an HTML
part, multipart/alternative) through the SMTP connection `smtp_default` to `CDI_ALERT_EMAILS`, and
a Slack-style incoming webhook (JSON `{"text": ...}`, the plain text) through the HTTP connection
`slack_alerts` (its host is the webhook URL). One channel failing does
not stop the other, and any failure raises after both were tried, so the callback's error shows
in the task log.

A channel the stack configured (its connection id in `CDI_REQUIRED_CONNECTIONS`, set by `pulumi
up` from the secrets it created in Secret Manager) is never skipped: a missing connection, or no
recipients for a required e-mail channel, counts as a failure. Only a channel the stack did not
configure is skipped, and the skip is logged as a warning.
"""

from __future__ import annotations

import asyncio
import html
import logging
import smtplib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from airflow.sdk import BaseNotifier

from pipeline.config import Settings
from pipeline.names import SMTP_CONN_ID, WEBHOOK_CONN_ID

log = logging.getLogger(__name__)

DEFAULT_FROM = "customer-analytics@localhost"
_MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Message:
    """One notification: the webhook posts `text`; the e-mail carries `text` and `html` as
    alternatives (`email`). `html_body` is the HTML part when given, else the lines, escaped."""

    subject: str
    lines: tuple[str, ...]
    html_body: str | None = None

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def html(self) -> str:
        if self.html_body is not None:
            return self.html_body
        return f"<h3>{html.escape(self.subject)}</h3>\n<pre>{html.escape(self.text)}</pre>\n"

    def email(self, *, sender: str, to: Sequence[str]) -> EmailMessage:
        """A multipart/alternative e-mail: the text part first, the HTML part last (the one a
        client that can show HTML prefers, RFC 2046)."""
        mail = EmailMessage()
        mail["Subject"] = self.subject
        mail["From"] = sender
        mail["To"] = ", ".join(to)
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost")
        mail.set_content(self.text + "\n")
        mail.add_alternative(self.html, subtype="html")
        return mail


def _connection(conn_id: str) -> Any | None:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def send_email(message: Message, *, to: Sequence[str], smtp_conn_id: str) -> None:
    """Send `message` as text and HTML alternatives through the SMTP connection `smtp_conn_id`.

    The provider's hook (apache-airflow-providers-smtp 3.2.0, the same on Composer) opens and logs
    in to the server with every setting of the connection: host, port, SSL or STARTTLS and its
    `ssl_context`, login or OAuth2, timeout, connect retries, and the `from_email` extra. Its only
    public way to send, `send_email_smtp`, builds its own MIME message with a single text/html
    part (`mime_subtype` only names the container), and it has no way to take a plain-text part
    or a message built elsewhere; core's `airflow.utils.email.send_mime_email` takes one, but reads
    host, port and TLS from the `[smtp]` config section, not from the connection. So the hook
    connects and logs in as for `send_email_smtp`, and its smtplib client (`_smtp_client`, set by
    `get_conn()`, the one `send_email_smtp` and the hook's `test_connection` use) sends the
    stdlib-built message, retried up to the connection's `retry_limit` like `send_email_smtp`. If
    a provider release renames the client, this raises rather than sending nothing, and the tests
    against a real SMTP server (tests/pipeline/test_notify.py) fail.
    """
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=smtp_conn_id) as smtp:
        client = getattr(smtp, "_smtp_client", None)
        if not isinstance(client, smtplib.SMTP):
            raise RuntimeError(
                f"SmtpHook({smtp_conn_id!r}) has no smtplib client after logging in: "
                "the provider changed; see pipeline.notify.send_email"
            )
        sender = smtp.from_email or DEFAULT_FROM
        mail = message.email(sender=sender, to=to)
        for attempt in range(smtp.smtp_retry_limit + 1):
            try:
                client.send_message(mail, from_addr=sender, to_addrs=list(to))
                break
            except smtplib.SMTPException:
                if attempt == smtp.smtp_retry_limit:
                    raise
                log.warning("e-mail %r: try %d failed, retrying", message.subject, attempt + 1)


def post_webhook(message: Message, *, webhook_conn_id: str) -> None:
    from airflow.providers.http.hooks.http import HttpHook

    HttpHook(method="POST", http_conn_id=webhook_conn_id).run(
        json={"text": f"*{message.subject}*\n{message.text}"},
        headers={"Content-Type": "application/json"},
    )


def _send(channel: str, conn_id: str, required: Collection[str], send: Callable[[], None]) -> str:
    """One channel's outcome: sent, failed (with why), or skipped when the stack did not configure
    it (`required`); a configured channel whose connection is missing is a failure, never a skip."""
    if _connection(conn_id) is None:
        if conn_id in required:
            return f"failed: connection {conn_id} is configured for this stack but missing"
        return f"skipped: no connection {conn_id}"
    try:
        send()
    except Exception as err:
        log.exception("%s alert failed", channel)
        return f"failed: {err}"
    return "sent"


def deliver(
    message: Message,
    *,
    to: Sequence[str],
    smtp_conn_id: str = SMTP_CONN_ID,
    webhook_conn_id: str = WEBHOOK_CONN_ID,
    required: Collection[str] | None = None,
) -> dict[str, str]:
    """Send to every channel; return what happened per channel; raise if any failed.

    `required`: connection ids that must work (default: `CDI_REQUIRED_CONNECTIONS`).
    """
    required = set(Settings.from_env().required_connections if required is None else required)
    outcome: dict[str, str] = {}
    if not to:
        outcome["email"] = (
            f"failed: {smtp_conn_id} is configured for this stack but there are no recipients"
            if smtp_conn_id in required
            else "skipped: no recipients"
        )
    else:
        outcome["email"] = _send(
            "email", smtp_conn_id, required, lambda: send_email(message, to=to, smtp_conn_id=smtp_conn_id)
        )
    outcome["webhook"] = _send(
        "webhook", webhook_conn_id, required, lambda: post_webhook(message, webhook_conn_id=webhook_conn_id)
    )
    log.info("notification %r: %s", message.subject, outcome)
    if all(v.startswith("skipped") for v in outcome.values()):
        log.warning("notification %r went nowhere: no channel is configured (%s)", message.subject, outcome)
    failed = {k: v for k, v in outcome.items() if v.startswith("failed")}
    if failed:
        log.error("notification %r not delivered: %s", message.subject, failed)
        raise RuntimeError(f"notification not delivered: {failed}")
    return outcome


def _recipients(to: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(to) if to is not None else Settings.from_env().alert_emails


def failure_message(context: Any) -> Message:
    """What failed, where, which try, and where its log is."""
    ti = context["ti"]
    dag_id = getattr(context.get("dag"), "dag_id", None) or ti.dag_id
    run_id = getattr(context.get("dag_run"), "run_id", None) or ti.run_id
    error = str(context.get("exception") or "unknown error")
    if len(error) > _MAX_ERROR_CHARS:
        error = error[:_MAX_ERROR_CHARS] + " ..."
    max_tries = getattr(ti, "max_tries", None)
    tries = f"{ti.try_number} of {max_tries + 1}" if isinstance(max_tries, int) else f"{ti.try_number}"
    return Message(
        subject=f"[{dag_id}] task {ti.task_id} failed (try {ti.try_number}) in run {run_id}",
        lines=(
            f"DAG: {dag_id}",
            f"Task: {ti.task_id}",
            f"Run: {run_id}",
            f"Try: {tries}",
            f"Log: {ti.log_url}",
            f"Error: {error}",
        ),
    )


def summary_message(dag_id: str, summary: dict[str, Any]) -> Message:
    """The run's counts, from the `report` task's result."""
    gold = ", ".join(
        f"{k.split('.', 1)[-1]} {v}" for k, v in sorted((summary.get("gold_rows") or {}).items())
    )
    duration = summary.get("duration_seconds")
    outcome = str(summary.get("outcome", "success")).upper()
    return Message(
        subject=f"[{dag_id}] run {summary.get('run_id')}: {outcome}",
        lines=(
            f"DAG: {dag_id}",
            f"Run: {summary.get('run_id')}",
            f"Outcome: {outcome}",
            *([str(summary["nothing_new"])] if summary.get("nothing_new") else []),
            f"Files: {summary.get('files', 0)}",
            f"Rows in: {summary.get('rows_read', 0)}  valid: {summary.get('rows_valid', 0)}  "
            f"quarantined: {summary.get('rows_quarantined', 0)}",
            f"Days touched: {summary.get('affected_days', 0)}",
            f"Gold rows: {gold or 'none'}",
            f"Duration: {duration if duration is not None else '?'} s",
            *(f"{name}: {url}" for name, url in sorted((summary.get("links") or {}).items())),
        ),
    )


class FailureNotifier(BaseNotifier):
    """A failed task: email and webhook naming the DAG, task, run, try and log URL."""

    def __init__(
        self,
        *,
        to: Sequence[str] | None = None,
        smtp_conn_id: str = SMTP_CONN_ID,
        webhook_conn_id: str = WEBHOOK_CONN_ID,
    ) -> None:
        super().__init__()
        self.to = tuple(to) if to is not None else None
        self.smtp_conn_id = smtp_conn_id
        self.webhook_conn_id = webhook_conn_id

    def notify(self, context: Any) -> None:
        deliver(
            failure_message(context),
            to=_recipients(self.to),
            smtp_conn_id=self.smtp_conn_id,
            webhook_conn_id=self.webhook_conn_id,
        )


class RunSummaryNotifier(BaseNotifier):
    """The run's summary after the `report` task (not sent when the run failed: that alert went already)."""

    def __init__(
        self,
        *,
        report_task_id: str = "report",
        to: Sequence[str] | None = None,
        smtp_conn_id: str = SMTP_CONN_ID,
        webhook_conn_id: str = WEBHOOK_CONN_ID,
    ) -> None:
        super().__init__()
        self.report_task_id = report_task_id
        self.to = tuple(to) if to is not None else None
        self.smtp_conn_id = smtp_conn_id
        self.webhook_conn_id = webhook_conn_id

    def notify(self, context: Any) -> None:
        summary = context["ti"].xcom_pull(task_ids=self.report_task_id) or {}
        if summary.get("outcome") == "failed":
            log.info("run failed: no success summary")
            return
        dag_id = getattr(context.get("dag"), "dag_id", None) or context["ti"].dag_id
        deliver(
            summary_message(dag_id, summary),
            to=_recipients(self.to),
            smtp_conn_id=self.smtp_conn_id,
            webhook_conn_id=self.webhook_conn_id,
        )


class LateRunNotifier(BaseNotifier):
    """A Deadline Alert callback (runs in the triggerer): the run is not done within its promise."""

    def __init__(
        self,
        *,
        promise: str = "",
        to: Sequence[str] | None = None,
        smtp_conn_id: str = SMTP_CONN_ID,
        webhook_conn_id: str = WEBHOOK_CONN_ID,
        context: Any = None,
    ) -> None:
        super().__init__(context)
        self.promise = promise
        self.to = tuple(to) if to is not None else None
        self.smtp_conn_id = smtp_conn_id
        self.webhook_conn_id = webhook_conn_id

    def message(self, context: Any) -> Message:
        run = (context or {}).get("dag_run") or {}
        deadline = (context or {}).get("deadline") or {}
        dag_id = run.get("dag_id", "customer_analytics")
        return Message(
            subject=f"[{dag_id}] run {run.get('dag_run_id') or run.get('run_id')} is late",
            lines=(
                f"DAG: {dag_id}",
                f"Run: {run.get('dag_run_id') or run.get('run_id')}",
                f"State: {run.get('state')}",
                f"Promise: {self.promise}",
                f"Deadline: {deadline.get('deadline_time')}",
            ),
        )

    def notify(self, context: Any) -> None:
        deliver(
            self.message(context),
            to=_recipients(self.to),
            smtp_conn_id=self.smtp_conn_id,
            webhook_conn_id=self.webhook_conn_id,
        )

    async def async_notify(self, context: Any) -> None:
        await asyncio.to_thread(self.notify, context)
