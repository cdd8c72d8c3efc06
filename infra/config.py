"""Stack configuration, read once into typed frozen dataclasses.

Every difference between environments lives in `Pulumi.<stack>.yaml` under the `cdi:` namespace;
`load()` reads it through `pulumi.Config` and validates it, so the components never read config
themselves. `composer_pypi_packages()` reads the DAG's PyPI packages from the `[project]
dependencies` of `pyproject.toml` and keeps those the Composer image (versions.toml) lacks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pulumi
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import looker_studio
from pipeline.config import FX_MAX_GAP_DAYS, MAX_RESTATE_DAYS, REPORTING_CURRENCY
from pipeline.versions import MATRIX, ComposerImage

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = REPO_ROOT / "pyproject.toml"
NAMESPACE = "cdi"

# Labels every labelled resource carries; `labels` in the stack config adds to them.
REQUIRED_LABELS = ("app", "env", "managed-by", "team")
_LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class ConfigError(ValueError):
    """A stack config value is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class Workload:
    """CPU, memory and storage of one Airflow component (Composer 3 workloads config)."""

    cpu: float
    memory_gb: float
    storage_gb: float = 0.0
    count: int = 1
    min_count: int = 1
    max_count: int = 1


@dataclass(frozen=True)
class ComposerSettings:
    image_version: str
    environment_size: str
    scheduler: Workload
    web_server: Workload
    worker: Workload
    triggerer: Workload
    dag_processor: Workload
    airflow_config_overrides: Mapping[str, str]
    resilience_mode: str = "STANDARD_RESILIENCE"


@dataclass(frozen=True)
class Retention:
    """Days before lifecycle actions; see `infra/components/storage.py`."""

    archive_nearline_days: int
    archive_coldline_days: int
    archive_archive_days: int
    staging_expiry_days: int
    quarantine_expiry_days: int
    noncurrent_version_days: int
    landing_message_retention: str = "604800s"
    bq_time_travel_hours: int = 168


@dataclass(frozen=True)
class Smtp:
    """The SMTP relay the DAG's e-mail alerts go through (connection `smtp_default`)."""

    host: str
    port: int
    user: str
    from_email: str
    password: pulumi.Output[str]
    """Stack secret `cdi:smtpPassword`."""
    starttls: bool = True


@dataclass(frozen=True)
class Alerts:
    emails: tuple[str, ...]
    freshness_hours: int
    slack_channel: str = ""
    slack_token: pulumi.Output[str] | None = None
    smtp: Smtp | None = None
    """DAG alerts by e-mail (`alerts.smtp` + secret `smtpPassword`)."""
    slack_webhook_url: pulumi.Output[str] | None = None
    """DAG alerts to a Slack incoming webhook (`alerts.slackWebhook: true` + secret `slackWebhookUrl`)."""
    opt_out: str = ""
    """Why this stack has no DAG alert channel (`alerts.optOut`); empty when it has one."""


# Stack secrets the program reads (`pulumi config set --secret cdi:<key> ...`); the offline plan
# and the mocked tests stand in placeholders for them (`infra.mocks`).
SECRET_KEYS = ("smtpPassword", "slackWebhookUrl", "slackToken", "dashboardRefreshUrl")


@dataclass(frozen=True)
class PipelineSettings:
    """Values the DAG reads on GCP besides resource names (see `pipeline.config.ENV`)."""

    source_tz: str = "UTC"
    reporting_tz: str = "UTC"
    default_currency: str = "USD"
    reporting_currency: str = REPORTING_CURRENCY
    """The currency of every gold amount (`CDI_REPORTING_CURRENCY`)."""
    fx_max_gap_days: int = FX_MAX_GAP_DAYS
    """How many days older than an order its exchange rate may be (`CDI_FX_MAX_GAP_DAYS`)."""
    csv_delimiter: str = "auto"
    on_bad_file: str = "fail"
    max_restate_days: int = MAX_RESTATE_DAYS
    """Days of history above which changed gold SQL stops a run before gold (`CDI_MAX_RESTATE_DAYS`)."""


@dataclass(frozen=True)
class StackConfig:
    """Everything that differs between stacks, validated; build it with `load()`."""

    stack: str
    project: str
    region: str
    data_location: str
    labels: Mapping[str, str]
    subnet_cidr: str
    private_networking: bool
    cmek: bool
    deletion_protection: bool
    composer: ComposerSettings
    retention: Retention
    alerts: Alerts
    pipeline: PipelineSettings
    github_repository: str
    state_bucket: str = ""
    looker_studio_template: str = ""
    """Looker Studio template report id (`cdi:lookerStudioTemplate`); empty: Looker Studio's default
    report over the gold tables (`infra.looker_studio`)."""
    dashboard_readers: tuple[str, ...] = ()
    """Who may open the pages `publish` writes to the private reports bucket (`cdi:dashboardReaders`,
    IAM members such as `group:analysts@example.com`): granted `roles/storage.objectViewer` on that
    bucket only."""
    dashboard_refresh_url: pulumi.Output[str] | None = None
    """Dashboard-refresh webhook (`cdi:dashboardRefresh: true` + secret `dashboardRefreshUrl`)."""
    spark_dist_dir: Path = field(default_factory=lambda: REPO_ROOT / "dist" / "spark")

    @property
    def kms_data_location(self) -> str:
        """Cloud KMS location matching `data_location` (multi-region EU -> `europe`)."""
        return {"EU": "europe", "US": "us"}.get(self.data_location.upper(), self.data_location.lower())


def composer_pypi_packages(
    pyproject: Path = PYPROJECT, image: ComposerImage = MATRIX.composer
) -> dict[str, str]:
    """What Composer must install beyond its image: the `[project].dependencies` the image does not
    ship at an accepted version, as Composer wants them (`{"name[extras]": "specifier"}`).

    Empty for this project: the image's packages (versions.toml) satisfy every dependency, so nothing
    comes from PyPI, which a prod environment with `enable_private_builds_only` cannot reach
    (docs.cloud.google.com/composer/docs/composer-3/install-python-dependencies). A package added
    here would need an Artifact Registry remote repository for PyPI in the project first.
    """
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    packages: dict[str, str] = {}
    for raw in data["project"]["dependencies"]:
        req = Requirement(raw)
        if req.marker is not None or req.url is not None:
            raise ConfigError(f"{pyproject}: {raw!r}: Composer takes only name, extras and version")
        shipped = image.packages.get(canonicalize_name(req.name))
        if shipped is not None and not req.extras and req.specifier.contains(shipped):
            continue
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        packages[f"{req.name.lower()}{extras}"] = str(req.specifier)
    return dict(sorted(packages.items()))


def _obj(cfg: pulumi.Config, key: str) -> dict[str, Any]:
    value = cfg.require_object(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{NAMESPACE}:{key} must be a map, got {type(value).__name__}")
    return value


def _take(raw: dict[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise ConfigError(f"{NAMESPACE}:{where}.{key} is required")
    return raw[key]


def _no_extra(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ConfigError(f"{NAMESPACE}:{where}: unknown keys {extra} (allowed: {sorted(allowed)})")


def _workload(raw: dict[str, Any], where: str) -> Workload:
    _no_extra(raw, {"cpu", "memoryGb", "storageGb", "count", "minCount", "maxCount"}, where)
    return Workload(
        cpu=float(_take(raw, "cpu", where)),
        memory_gb=float(_take(raw, "memoryGb", where)),
        storage_gb=float(raw.get("storageGb", 0)),
        count=int(raw.get("count", 1)),
        min_count=int(raw.get("minCount", 1)),
        max_count=int(raw.get("maxCount", 1)),
    )


def _composer(raw: dict[str, Any]) -> ComposerSettings:
    keys = {"imageVersion", "environmentSize", "workloads", "airflowConfigOverrides", "resilienceMode"}
    _no_extra(raw, keys, "composer")
    image = str(_take(raw, "imageVersion", "composer"))
    if not re.match(r"^composer-3-airflow-3\.\d+\.\d+(-build\.\d+)?$", image):
        raise ConfigError(
            f"{NAMESPACE}:composer.imageVersion {image!r}: expected a Composer 3 Airflow 3 image"
        )
    if image != MATRIX.composer.image:
        raise ConfigError(
            f"{NAMESPACE}:composer.imageVersion {image!r}: the version matrix (versions.toml) pins "
            f"{MATRIX.composer.image!r}, the image the DAG is locked and tested against"
        )
    workloads = _take(raw, "workloads", "composer")
    _no_extra(
        workloads, {"scheduler", "webServer", "worker", "triggerer", "dagProcessor"}, "composer.workloads"
    )
    overrides = raw.get("airflowConfigOverrides", {})
    for key in overrides:
        if not re.match(r"^[a-z_]+-[a-z_]+$", key):
            raise ConfigError(f"{NAMESPACE}:composer.airflowConfigOverrides: {key!r} is not 'section-key'")
        if key.startswith("secrets-"):
            raise ConfigError(
                f"{NAMESPACE}:composer.airflowConfigOverrides: {key!r} is set by the program "
                "(infra/components/secrets.py: connections live in Secret Manager)"
            )
    return ComposerSettings(
        image_version=image,
        environment_size=str(_take(raw, "environmentSize", "composer")),
        scheduler=_workload(
            _take(workloads, "scheduler", "composer.workloads"), "composer.workloads.scheduler"
        ),
        web_server=_workload(
            _take(workloads, "webServer", "composer.workloads"), "composer.workloads.webServer"
        ),
        worker=_workload(_take(workloads, "worker", "composer.workloads"), "composer.workloads.worker"),
        triggerer=_workload(
            _take(workloads, "triggerer", "composer.workloads"), "composer.workloads.triggerer"
        ),
        dag_processor=_workload(
            _take(workloads, "dagProcessor", "composer.workloads"), "composer.workloads.dagProcessor"
        ),
        airflow_config_overrides=MappingProxyType({str(k): str(v) for k, v in sorted(overrides.items())}),
        resilience_mode=str(raw.get("resilienceMode", "STANDARD_RESILIENCE")),
    )


def _retention(raw: dict[str, Any]) -> Retention:
    names = {
        "archiveNearlineDays": "archive_nearline_days",
        "archiveColdlineDays": "archive_coldline_days",
        "archiveArchiveDays": "archive_archive_days",
        "stagingExpiryDays": "staging_expiry_days",
        "quarantineExpiryDays": "quarantine_expiry_days",
        "noncurrentVersionDays": "noncurrent_version_days",
    }
    _no_extra(raw, set(names) | {"landingMessageRetention", "bqTimeTravelHours"}, "retention")
    values = {attr: int(_take(raw, key, "retention")) for key, attr in names.items()}
    if not values["archive_nearline_days"] < values["archive_coldline_days"] < values["archive_archive_days"]:
        raise ConfigError(f"{NAMESPACE}:retention: archive tiers must be in increasing order of days")
    return Retention(
        **values,
        landing_message_retention=str(raw.get("landingMessageRetention", "604800s")),
        bq_time_travel_hours=int(raw.get("bqTimeTravelHours", 168)),
    )


_READER = re.compile(r"^(user|group|domain|serviceAccount|principal|principalSet):\S+$")


def _dashboard_readers(raw: object) -> tuple[str, ...]:
    """`cdi:dashboardReaders`: IAM members (https://cloud.google.com/iam/docs/principal-identifiers);
    never allUsers or allAuthenticatedUsers, the bucket stays private."""
    if not isinstance(raw, list) or not all(isinstance(m, str) for m in raw):
        raise ConfigError(f"{NAMESPACE}:dashboardReaders must be a list of IAM members")
    for member in raw:
        if not _READER.match(member):
            raise ConfigError(
                f"{NAMESPACE}:dashboardReaders {member!r}: expected an IAM member such as "
                "'group:analysts@example.com' or 'user:ana@example.com' (never allUsers or allAuthenticatedUsers)"
            )
    return tuple(dict.fromkeys(raw))


def _labels(stack: str, raw: dict[str, Any]) -> Mapping[str, str]:
    labels = {"app": "cdi", "env": stack, "managed-by": "pulumi"}
    labels.update({str(k): str(v) for k, v in raw.items()})
    for key, value in labels.items():
        if not _LABEL_RE.match(key) or not _LABEL_VALUE_RE.match(value):
            raise ConfigError(f"{NAMESPACE}:labels: {key}={value!r} is not a valid GCP label")
    missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
    if missing:
        raise ConfigError(f"{NAMESPACE}:labels must set {missing}")
    return MappingProxyType(dict(sorted(labels.items())))


def _secret(cfg: pulumi.Config, key: str, why: str) -> pulumi.Output[str]:
    value = cfg.get_secret(key)
    if value is None:
        raise ConfigError(f"{why}: set it with `pulumi config set --secret {NAMESPACE}:{key} ...`")
    return value


def _smtp(cfg: pulumi.Config, raw: Any) -> Smtp | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{NAMESPACE}:alerts.smtp must be a map (host, port, user, fromEmail)")
    _no_extra(raw, {"host", "port", "user", "fromEmail", "starttls"}, "alerts.smtp")
    from_email = str(_take(raw, "fromEmail", "alerts.smtp"))
    if "@" not in from_email:
        raise ConfigError(f"{NAMESPACE}:alerts.smtp.fromEmail {from_email!r} is not an e-mail address")
    return Smtp(
        host=str(_take(raw, "host", "alerts.smtp")),
        port=int(_take(raw, "port", "alerts.smtp")),
        user=str(_take(raw, "user", "alerts.smtp")),
        from_email=from_email,
        password=_secret(cfg, "smtpPassword", f"{NAMESPACE}:alerts.smtp is set, its password is not"),
        starttls=bool(raw.get("starttls", True)),
    )


def _alerts(cfg: pulumi.Config) -> Alerts:
    """The alert settings; a stack must give the DAG a channel unless it opts out with a reason."""
    alerts = _obj(cfg, "alerts")
    _no_extra(
        alerts,
        {"emails", "freshnessHours", "slackChannel", "smtp", "slackWebhook", "optOut"},
        "alerts",
    )
    emails = tuple(str(e) for e in _take(alerts, "emails", "alerts"))
    if not emails or any("@" not in e for e in emails):
        raise ConfigError(f"{NAMESPACE}:alerts.emails needs at least one e-mail address")
    slack_channel = str(alerts.get("slackChannel", ""))
    slack_token = cfg.get_secret("slackToken") if slack_channel else None
    if slack_channel and slack_token is None:
        raise ConfigError(
            f"{NAMESPACE}:alerts.slackChannel is set: set the secret {NAMESPACE}:slackToken too"
        )
    smtp = _smtp(cfg, alerts.get("smtp"))
    webhook = alerts.get("slackWebhook", False)
    if not isinstance(webhook, bool):
        raise ConfigError(f"{NAMESPACE}:alerts.slackWebhook must be true or false")
    webhook_url = (
        _secret(cfg, "slackWebhookUrl", f"{NAMESPACE}:alerts.slackWebhook is true, the URL is not set")
        if webhook
        else None
    )
    opt_out = alerts.get("optOut", "")
    if not isinstance(opt_out, str) or (opt_out == "" and "optOut" in alerts):
        raise ConfigError(f"{NAMESPACE}:alerts.optOut must be the reason (a sentence), not {opt_out!r}")
    if (smtp or webhook_url) and opt_out:
        raise ConfigError(f"{NAMESPACE}:alerts.optOut is set although the stack has an alert channel")
    if not (smtp or webhook_url or opt_out):
        raise ConfigError(
            "the DAG has no alert channel: set "
            f"{NAMESPACE}:alerts.smtp (host, port, user, fromEmail) and the secret {NAMESPACE}:smtpPassword, "
            f"and/or {NAMESPACE}:alerts.slackWebhook: true and the secret {NAMESPACE}:slackWebhookUrl; "
            f"or opt out with {NAMESPACE}:alerts.optOut: '<reason>'"
        )
    return Alerts(
        emails=emails,
        freshness_hours=int(_take(alerts, "freshnessHours", "alerts")),
        slack_channel=slack_channel,
        slack_token=slack_token,
        smtp=smtp,
        slack_webhook_url=webhook_url,
        opt_out=opt_out,
    )


def load(stack: str | None = None) -> StackConfig:
    """Read and validate the `cdi:` config of the current (or given) stack."""
    cfg = pulumi.Config(NAMESPACE)
    stack = stack or pulumi.get_stack()
    alerts = _alerts(cfg)
    dashboard = cfg.get_bool("dashboardRefresh") or False
    dashboard_url = (
        _secret(cfg, "dashboardRefreshUrl", f"{NAMESPACE}:dashboardRefresh is true, the URL is not set")
        if dashboard
        else None
    )
    pipeline_raw = cfg.get_object("pipeline") or {}
    _no_extra(
        pipeline_raw,
        {
            "sourceTz",
            "reportingTz",
            "defaultCurrency",
            "reportingCurrency",
            "fxMaxGapDays",
            "csvDelimiter",
            "onBadFile",
            "maxRestateDays",
        },
        "pipeline",
    )
    on_bad_file = str(pipeline_raw.get("onBadFile", "fail"))
    if on_bad_file not in ("fail", "warn"):
        raise ConfigError(f"{NAMESPACE}:pipeline.onBadFile must be 'fail' or 'warn'")
    max_restate_days = pipeline_raw.get("maxRestateDays", MAX_RESTATE_DAYS)
    if not isinstance(max_restate_days, int) or isinstance(max_restate_days, bool) or max_restate_days < 0:
        raise ConfigError(f"{NAMESPACE}:pipeline.maxRestateDays must be a number of days")
    fx_max_gap_days = pipeline_raw.get("fxMaxGapDays", FX_MAX_GAP_DAYS)
    if not isinstance(fx_max_gap_days, int) or isinstance(fx_max_gap_days, bool) or fx_max_gap_days < 0:
        raise ConfigError(f"{NAMESPACE}:pipeline.fxMaxGapDays must be a number of days")
    repo = cfg.require("githubRepository")
    if not _REPO_RE.match(repo):
        raise ConfigError(f"{NAMESPACE}:githubRepository {repo!r}: expected 'owner/name'")
    if cfg.get("dataprocHistoryServer") is not None:
        # https://cloud.google.com/dataproc-serverless/docs/concepts/versions/spark-runtime-3.0
        raise ConfigError(
            f"{NAMESPACE}:dataprocHistoryServer is gone: runtime 3.0 batches cannot use a persistent "
            "history server; open a batch's Spark UI from the console instead. Remove the key."
        )
    spark_dist = cfg.get("sparkDistDir")
    readers = _dashboard_readers(cfg.get_object("dashboardReaders") or [])
    template = cfg.get("lookerStudioTemplate") or ""
    if template and not looker_studio.TEMPLATE_ID.match(template):
        raise ConfigError(
            f"{NAMESPACE}:lookerStudioTemplate {template!r}: expected a report id, the part after "
            "/reporting/ in the template report's URL"
        )
    return StackConfig(
        stack=stack,
        project=cfg.require("project"),
        region=cfg.require("region"),
        data_location=cfg.require("dataLocation"),
        labels=_labels(stack, cfg.get_object("labels") or {}),
        subnet_cidr=cfg.require("subnetCidr"),
        private_networking=cfg.require_bool("privateNetworking"),
        cmek=cfg.require_bool("cmek"),
        deletion_protection=cfg.require_bool("deletionProtection"),
        composer=_composer(_obj(cfg, "composer")),
        retention=_retention(_obj(cfg, "retention")),
        alerts=alerts,
        pipeline=PipelineSettings(
            source_tz=str(pipeline_raw.get("sourceTz", "UTC")),
            reporting_tz=str(pipeline_raw.get("reportingTz", "UTC")),
            default_currency=str(pipeline_raw.get("defaultCurrency", "USD")),
            reporting_currency=str(pipeline_raw.get("reportingCurrency", REPORTING_CURRENCY)),
            fx_max_gap_days=fx_max_gap_days,
            csv_delimiter=str(pipeline_raw.get("csvDelimiter", "auto")),
            on_bad_file=on_bad_file,
            max_restate_days=max_restate_days,
        ),
        github_repository=repo,
        state_bucket=cfg.get("stateBucket") or "",
        looker_studio_template=template,
        dashboard_readers=readers,
        dashboard_refresh_url=dashboard_url,
        spark_dist_dir=(REPO_ROOT / spark_dist) if spark_dist else REPO_ROOT / "dist" / "spark",
    )
