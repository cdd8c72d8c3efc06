"""Alerts of `customer_analytics`, the same for both targets: Airflow 3 notifiers.

- `FailureNotifier` (every task's `on_failure_callback`): names the DAG, task, run, try and log URL,
  with the error.
- `RunSummaryNotifier` (the `report` task's `on_success_callback`): the run's outcome and counts
  (files, rows in / valid / quarantined, days touched, gold rows, duration), its data-quality status
  and links (dashboard or Looker Studio, the run's page in the Airflow UI), unless the run failed
  (the failure alert went already); its e-mail's HTML part shows them as tables.
- `LateRunNotifier` (a Deadline Alert callback, run in the triggerer): a run still not done in time.

Each message goes to every channel that has a connection: email (a plain-text part and an HTML
part, multipart/alternative) through the SMTP connection `smtp_default` to `CDI_ALERT_EMAILS`, and
a Slack-style incoming webhook (JSON `{"text": ...}`, the plain text) through the HTTP connection
`slack_alerts` (its host is the webhook URL). One channel failing does not stop the other, and any
failure raises after both were tried, so the callback's error shows in the task log.

A channel the stack configured (its connection id in `CDI_REQUIRED_CONNECTIONS`, set by `pulumi
up` from the secrets it created in Secret Manager) is never skipped: a missing connection, or no
recipients for a required e-mail channel, counts as a failure. Only a channel the stack did not
configure is skipped, and the skip is logged as a warning.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseNotifier

from pipeline.config import Settings
from pipeline.names import SMTP_CONN_ID, WEBHOOK_CONN_ID

if TYPE_CHECKING:
    from email.message import EmailMessage

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
        from email.message import EmailMessage
        from email.utils import formatdate, make_msgid, parseaddr

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
    stdlib-built message, retried on SMTP errors up to the connection's `retry_limit` as there. If
    a provider release renames the client, this raises rather than sending nothing, and the tests
    against a real SMTP server (tests/pipeline/test_notify.py) fail.
    """
    import smtplib

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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def dq_line(checks: Sequence[dict[str, Any]]) -> str:
    """The data-quality status in a few words: all passed, or how many did not."""
    failed = [c for c in checks if not c["passed"]]
    if not checks:
        return "no checks ran"
    if not failed:
        return f"all {_plural(len(checks), 'check')} passed"
    return f"{len(failed)} of {_plural(len(checks), 'check')} did not pass"


def run_page(log_url: str | None) -> str | None:
    """The run's page in the Airflow UI (each task's log is there), from one task's log URL
    (`<base_url>/dags/<dag>/runs/<run>/tasks/<task>?try_number=N`, as the Task SDK builds it)."""
    if not log_url:
        return None
    return log_url.split("/tasks/", 1)[0]


def summary_message(dag_id: str, summary: dict[str, Any], *, logs: str | None = None) -> Message:
    """The run's counts, data-quality status and links, from the `report` task's result; `logs`:
    the run's page in the Airflow UI. The HTML part shows the same as the text, as tables."""
    gold = ", ".join(
        f"{k.split('.', 1)[-1]} {v}" for k, v in sorted((summary.get("gold_rows") or {}).items())
    )
    duration = summary.get("duration_seconds")
    outcome = str(summary.get("outcome", "success")).upper()
    links = {**(summary.get("links") or {}), **({"Airflow logs": logs} if logs else {})}
    checks = summary.get("data_quality")
    dq_lines = []
    if checks is not None:
        dq_lines.append(f"Data quality: {dq_line(checks)}")
        dq_lines.extend(
            f"  {c['check_name']} ({c['severity']}): {_plural(int(c['failures']), 'failing row')}"
            for c in checks
            if not c["passed"]
        )
    subject = f"[{dag_id}] run {summary.get('run_id')}: {outcome}"
    return Message(
        subject=subject,
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
            *dq_lines,
            *(f"{name}: {url}" for name, url in sorted(links.items())),
        ),
        html_body=summary_html(dag_id, summary, links, subject=subject),
    )


# The summary e-mail's HTML: inline styles and tables only (many mail clients drop <style> and
# ignore CSS layout), every value escaped. Colours as the run-health page's (health_page.py).
_OUTCOME_COLOURS = {"SUCCESS": "#2e7d32", "WARNING": "#b26a00", "FAILED": "#c62828"}
_SEVERITY_COLOURS = {"error": "#c62828", "warn": "#b26a00"}
_GREY = "#555555"
_FONT = "font-family:Arial,Helvetica,sans-serif;color:#222222;font-size:14px;"
_H2 = "font-size:15px;margin:18px 0 6px;"
_CELL_BOX = "padding:4px 16px 4px 0;border-bottom:1px solid #dddddd;vertical-align:top;"
_CELL = _CELL_BOX + "text-align:left;"
_NUMBER = _CELL_BOX + "text-align:right;"
_LINK_SCHEMES = ("http", "https", "file")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _kpis(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The figures of the KPI table, by label."""
    duration = summary.get("duration_seconds")
    rows = [
        ("Files", summary.get("files", 0)),
        ("Rows in", summary.get("rows_read", 0)),
        ("Rows valid", summary.get("rows_valid", 0)),
        ("Rows quarantined", summary.get("rows_quarantined", 0)),
        ("Days touched", summary.get("affected_days", 0)),
    ]
    if summary.get("duplicates_replaced_in_silver"):
        rows.append(("Duplicates replaced in silver", summary["duplicates_replaced_in_silver"]))
    rows.extend(
        (f"Gold rows: {table.split('.', 1)[-1]}", n)
        for table, n in sorted((summary.get("gold_rows") or {}).items())
    )
    rows.append(("Duration", f"{duration} s" if duration is not None else "?"))
    return [(label, str(value)) for label, value in rows]


def _link(name: str, url: str) -> str:
    """A link, or the URL as text when it is no web or file address (never a `javascript:` href)."""
    if urlsplit(url).scheme.lower() in _LINK_SCHEMES:
        return f'<a href="{_e(url)}" style="color:#1565c0;">{_e(name)}</a>'
    return f"{_e(name)}: {_e(url)}"


def summary_html(dag_id: str, summary: dict[str, Any], links: dict[str, str], *, subject: str) -> str:
    """The summary e-mail's HTML part: the outcome in its colour, the KPI table, the data-quality
    status with every check that did not pass, and the links."""
    outcome = str(summary.get("outcome", "success")).upper()
    badge = (
        f'<span style="background:{_OUTCOME_COLOURS.get(outcome, _GREY)};color:#ffffff;'
        f'padding:2px 8px;border-radius:3px;">{_e(outcome)}</span>'
    )
    body = [
        f'<h1 style="font-size:18px;margin:0 0 8px;">{_e(dag_id)}: run {_e(summary.get("run_id"))} {badge}</h1>'
    ]
    if summary.get("nothing_new"):
        body.append(f'<p style="margin:0 0 8px;">{_e(summary["nothing_new"])}</p>')
    body.append(f'<h2 style="{_H2}">Figures</h2>')
    body.append('<table id="kpis" cellpadding="0" cellspacing="0" style="border-collapse:collapse;">')
    body.extend(
        f'<tr><th scope="row" style="{_CELL}font-weight:normal;">{_e(label)}</th>'
        f'<td style="{_NUMBER}">{_e(value)}</td></tr>'
        for label, value in _kpis(summary)
    )
    body.append("</table>")
    checks = summary.get("data_quality")
    if checks is not None:
        failed = [c for c in checks if not c["passed"]]
        if not failed:
            colour = _OUTCOME_COLOURS["SUCCESS"]
        elif any(c["severity"] == "error" for c in failed):
            colour = _SEVERITY_COLOURS["error"]
        else:
            colour = _SEVERITY_COLOURS["warn"]
        body.append(f'<h2 style="{_H2}">Data quality</h2>')
        body.append(f'<p id="dq-status" style="margin:0 0 6px;color:{colour};">{_e(dq_line(checks))}</p>')
        if failed:
            body.append('<table id="dq" cellpadding="0" cellspacing="0" style="border-collapse:collapse;">')
            body.append(
                f'<tr><th style="{_CELL}">Check</th><th style="{_CELL}">Severity</th>'
                f'<th style="{_NUMBER}">Failing rows</th></tr>'
            )
            body.extend(
                f'<tr><td style="{_CELL}">{_e(c["check_name"])}</td>'
                f'<td style="{_CELL}color:{_SEVERITY_COLOURS.get(str(c["severity"]), _GREY)};">'
                f"{_e(c['severity'])}</td>"
                f'<td style="{_NUMBER}">{_e(c["failures"])}</td></tr>'
                for c in failed
            )
            body.append("</table>")
    if links:
        body.append(f'<h2 style="{_H2}">Links</h2>')
        body.append(
            '<p id="links" style="margin:0;">'
            + " &middot; ".join(_link(name, url) for name, url in sorted(links.items()))
            + "</p>"
        )
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_e(subject)}</title></head>",
            f'<body style="margin:0;padding:16px;{_FONT}">',
            '<table role="presentation" cellpadding="0" cellspacing="0" width="100%" '
            'style="max-width:640px;border-collapse:collapse;">',
            f'<tr><td style="{_FONT}">',
            *body,
            "</td></tr>",
            "</table>",
            "</body></html>",
            "",
        ]
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
            summary_message(dag_id, summary, logs=run_page(getattr(context["ti"], "log_url", None))),
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
