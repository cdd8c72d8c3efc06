"""Connections in Secret Manager: what `pulumi up` writes is what Composer's Airflow reads.

The mocked stacks' Composer environment names the secrets backend and its kwargs; the test builds
that backend class (the installed Google provider's) with those kwargs, serves it the secrets the
same stack created, and asks it for every connection the DAG is told is configured
(`CDI_REQUIRED_CONNECTIONS`). Only the Secret Manager RPC is replaced, by the recorded secrets.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pulumi
import pytest
from google.auth.credentials import AnonymousCredentials

from infra import config as infra_config
from infra.components import secrets
from infra.config import ConfigError
from infra.mocks import OFFLINE_SECRETS, SecretValue, StackRun, run_program, stack_config_values
from pipeline.config import ENV
from pipeline.gcp import DASHBOARD_CONN_ID
from pipeline.notify import SMTP_CONN_ID, WEBHOOK_CONN_ID

COMPOSER = "gcp:composer/environment:Environment"
SECRET = "gcp:secretmanager/secret:Secret"
VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"


def _software(run: StackRun) -> Mapping[str, Any]:
    (env,) = run.of_type(COMPOSER)
    return env.inputs["config"]["softwareConfig"]  # type: ignore[no-any-return]


def _store(run: StackRun) -> dict[str, str]:
    """secret id -> payload, as Secret Manager would hold them after `pulumi up`."""
    ids = {s.urn: s.inputs["secretId"] for s in run.of_type(SECRET)}
    by_name = {f"projects/{run.config['cdi:project']}/secrets/{sid}": sid for sid in ids.values()}
    store = {}
    for version in run.of_type(VERSION):
        data = version.inputs["secretData"]
        assert isinstance(data, SecretValue), f"{version.urn}: the payload must stay a Pulumi secret"
        store[by_name[version.inputs["secret"]]] = data.value
    return store


def _backend(run: StackRun, monkeypatch: pytest.MonkeyPatch) -> Any:
    overrides = _software(run)["airflowConfigOverrides"]
    module_name, _, class_name = overrides["secrets-backend"].rpartition(".")
    module = importlib.import_module(module_name)
    kwargs = json.loads(overrides["secrets-backend_kwargs"])
    store = _store(run)

    def get_secret(self: Any, secret_id: str, project_id: str, secret_version: str = "latest") -> str | None:
        assert project_id == run.config["cdi:project"]
        return store.get(secret_id)

    monkeypatch.setattr(module, "get_credentials_and_project_id", lambda **_: (AnonymousCredentials(), None))
    monkeypatch.setattr(module._SecretManagerClient, "get_secret", get_secret)
    return getattr(module, class_name)(**kwargs)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_composer_reads_every_configured_connection_from_the_secrets_the_stack_made(
    stack: str, stack_runs: dict[str, StackRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = stack_runs[stack]
    required = _software(run)["envVariables"][ENV["required_connections"]].split(",")
    assert required == [SMTP_CONN_ID], "both stacks alert by e-mail (Pulumi.<stack>.yaml alerts.smtp)"
    backend = _backend(run, monkeypatch)
    smtp = backend.get_connection(SMTP_CONN_ID)
    assert smtp is not None, f"{stack}: Airflow finds no {SMTP_CONN_ID}"
    relay = json.loads(stack_config_values(stack)["cdi:alerts"])["smtp"]
    assert (smtp.conn_type, smtp.host, smtp.port, smtp.login) == ("smtp", relay["host"], 587, relay["user"])
    assert smtp.password == OFFLINE_SECRETS["cdi:smtpPassword"]
    assert smtp.extra_dejson["from_email"] == relay["fromEmail"]
    assert smtp.extra_dejson["disable_tls"] is False, "STARTTLS on 587"
    assert backend.get_connection(WEBHOOK_CONN_ID) is None  # not configured on these stacks
    assert backend.get_variable("anything") is None  # variables are not looked up


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_only_composer_reads_the_secrets_and_they_stay_in_the_region(
    stack: str, stack_runs: dict[str, StackRun]
) -> None:
    run = stack_runs[stack]
    composer_sa = run.outputs["service_accounts"]["composer"]
    secret_ids = {s.inputs["secretId"] for s in run.of_type(SECRET)}
    grants = {(g.inputs["secretId"], g.inputs["role"], g.inputs["member"]) for g in run.of_type(SECRET_IAM)}
    assert grants == {
        (sid, "roles/secretmanager.secretAccessor", f"serviceAccount:{composer_sa}") for sid in secret_ids
    }
    for secret in run.of_type(SECRET):
        replicas = secret.inputs["replication"]["userManaged"]["replicas"]
        assert [r["location"] for r in replicas] == [run.config["cdi:region"]], secret.urn
        kms = [r.get("customerManagedEncryption", {}).get("kmsKeyName") for r in replicas]
        assert all(kms) == (stack == "prod"), secret.urn
    assert run.outputs["connection_secrets"] == {
        SMTP_CONN_ID: f"projects/{run.config['cdi:project']}/secrets/{secrets.secret_id(SMTP_CONN_ID)}"
    }


@pytest.fixture(autouse=True)
def _reset_config() -> Iterator[None]:
    yield
    pulumi.runtime.set_all_config({}, [])


def _load(values: Mapping[str, str], secret_keys: tuple[str, ...] = ()) -> infra_config.StackConfig:
    pulumi.runtime.set_all_config(dict(values), list(secret_keys))
    return infra_config.load("dev")


def _dev_config(**alerts: Any) -> dict[str, str]:
    values = stack_config_values("dev")
    raw = json.loads(values["cdi:alerts"])
    for key, value in alerts.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    values["cdi:alerts"] = json.dumps(raw)
    return values


def test_a_stack_without_an_alert_channel_is_a_deploy_time_error() -> None:
    with pytest.raises(ConfigError) as err:
        _load(_dev_config(smtp=None))
    for key in ("cdi:alerts.smtp", "cdi:smtpPassword", "cdi:alerts.slackWebhook", "cdi:slackWebhookUrl"):
        assert key in str(err.value)
    assert "cdi:alerts.optOut" in str(err.value)


def test_opting_out_takes_a_reason() -> None:
    cfg = _load(_dev_config(smtp=None, optOut="sandbox project, nobody on call"))
    assert cfg.alerts.opt_out == "sandbox project, nobody on call"
    assert cfg.alerts.smtp is None
    with pytest.raises(ConfigError, match="optOut must be the reason"):
        _load(_dev_config(smtp=None, optOut=True))
    with pytest.raises(ConfigError, match="optOut is set although"):
        _load({**OFFLINE_SECRETS, **_dev_config(optOut="why not")}, tuple(OFFLINE_SECRETS))


def test_a_configured_channel_needs_its_stack_secret() -> None:
    with pytest.raises(ConfigError, match=r"pulumi config set --secret cdi:smtpPassword"):
        _load(_dev_config())
    with pytest.raises(ConfigError, match=r"pulumi config set --secret cdi:slackWebhookUrl"):
        _load(_dev_config(smtp=None, slackWebhook=True))


def test_a_slack_webhook_and_a_dashboard_become_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import stack as infra_stack

    values = {
        **_dev_config(smtp=None, slackWebhook=True),
        "cdi:slackWebhookUrl": "https://hooks.slack.com/services/T0/B0/XYZ",
        "cdi:dashboardRefresh": "true",
        "cdi:dashboardRefreshUrl": "https://bi.example.com/refresh?token=abc",
    }
    seen: dict[str, str] = {}

    def program() -> Mapping[str, Any]:
        found = infra_stack.connections(infra_config.load("dev"))
        for conn_id, value in found.items():
            value.apply(lambda v, c=conn_id: seen.__setitem__(c, v))
        return {}

    run_program("dev", program, values, ("cdi:slackWebhookUrl", "cdi:dashboardRefreshUrl"))
    assert set(seen) == {WEBHOOK_CONN_ID, DASHBOARD_CONN_ID}
    assert json.loads(seen[WEBHOOK_CONN_ID]) == {
        "conn_type": "http",
        "host": "https://hooks.slack.com/services/T0/B0/XYZ",
    }


def test_the_program_owns_the_secrets_backend_settings() -> None:
    values = stack_config_values("dev")
    composer = json.loads(values["cdi:composer"])
    composer["airflowConfigOverrides"]["secrets-backend"] = (
        "airflow.secrets.local_filesystem.LocalFilesystemBackend"
    )
    values["cdi:composer"] = json.dumps(composer)
    with pytest.raises(ConfigError, match="secrets-backend"):
        _load({**OFFLINE_SECRETS, **values}, tuple(OFFLINE_SECRETS))
