"""One place for every name and setting the pipeline reads.

Both targets read the same environment variables. On GCP the Composer environment carries them
(infra sets them from the stack config using the names below, so no name is typed twice); locally
the CLI sets them, and the defaults make a bare checkout run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Target = Literal["local", "gcp"]

DAG_ID = "customer_analytics"
REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
SOURCES_FILE = "sources.yaml"
PAGE_ASSETS_DIR = "pipeline/static"
"""GCP: where the DAG folder holds what the pages need that Composer cannot make (Plotly's bundle, the
data docs), uploaded by `pulumi up` (`infra.artifacts`), relative to the DAG folder's root."""
"""The source settings file (`spark.sources`), at the repository root and in the DAG folder."""

# Dataset ids are the same in every environment: an environment is its own GCP project.

# Entities of the landing area, one folder each; only transactions are required (fx_rates only
# when some order is in another currency than the reporting one).
ENTITIES = ("transactions", "customers", "agents", "fx_rates")

# Environment variable names: infra sets these on Composer, the CLI sets them locally.
ENV = {
    "target": "CDI_TARGET",
    "project": "CDI_PROJECT",
    "region": "CDI_REGION",
    "landing_bucket": "CDI_LANDING_BUCKET",
    "archive_bucket": "CDI_ARCHIVE_BUCKET",
    "quarantine_bucket": "CDI_QUARANTINE_BUCKET",
    "staging_bucket": "CDI_STAGING_BUCKET",
    "artifacts_bucket": "CDI_ARTIFACTS_BUCKET",
    "reports_bucket": "CDI_REPORTS_BUCKET",
    "page_assets": "CDI_PAGE_ASSETS",
    "dataproc_service_account": "CDI_DATAPROC_SERVICE_ACCOUNT",
    "dataproc_subnet": "CDI_DATAPROC_SUBNET",
    "dataproc_kms_key": "CDI_DATAPROC_KMS_KEY",
    "landing_subscription": "CDI_LANDING_SUBSCRIPTION",
    "bq_location": "CDI_BQ_LOCATION",
    "landing_dir": "CDI_LANDING_DIR",
    "output_dir": "CDI_OUTPUT_DIR",
    "source_tz": "CDI_SOURCE_TZ",
    "reporting_tz": "CDI_REPORTING_TZ",
    "default_currency": "CDI_DEFAULT_CURRENCY",
    "reporting_currency": "CDI_REPORTING_CURRENCY",
    "fx_max_gap_days": "CDI_FX_MAX_GAP_DAYS",
    "csv_delimiter": "CDI_CSV_DELIMITER",
    "sources": "CDI_SOURCES",
    "on_bad_file": "CDI_ON_BAD_FILE",
    "alert_emails": "CDI_ALERT_EMAILS",
    "required_connections": "CDI_REQUIRED_CONNECTIONS",
    "max_restate_days": "CDI_MAX_RESTATE_DAYS",
    "landing_settle_seconds": "CDI_LANDING_SETTLE_SECONDS",
    "looker_studio_url": "CDI_LOOKER_STUDIO_URL",
}

# Above this many days of history, a run whose gold SQL changed stops before gold and names the
# `cdi rebuild` (or DAG trigger) to run instead: a scheduled run should not turn into years of
# rebuilding unannounced (pipeline/restate.py).
MAX_RESTATE_DAYS = 400

# Gold amounts are in this currency; an order in another one is converted at its UTC day's rate
# (`fx_rates/`), or the latest earlier rate at most this many days older (a feed has no weekends
# or holidays): sql/silver/transactions_convert.sql.
REPORTING_CURRENCY = "USD"
FX_MAX_GAP_DAYS = 7


def cache_dir() -> Path:
    """What cdi derives once per machine and reuses across outputs and checkouts (the migrated
    Airflow DB template, the JVM class archive): `$XDG_CACHE_HOME/cdi`, else `~/.cache/cdi`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cdi"


def _env(key: str, default: str = "") -> str:
    return os.environ.get(ENV[key], default)


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one process; build with `Settings.from_env()`."""

    target: Target = "local"
    project: str = ""
    region: str = "europe-west1"
    landing_bucket: str = ""
    archive_bucket: str = ""
    quarantine_bucket: str = ""
    staging_bucket: str = ""
    artifacts_bucket: str = ""
    reports_bucket: str = ""
    """GCP: the private bucket `publish` writes the pages into (`dashboard/`)."""
    page_assets: Path = field(default_factory=lambda: REPO_ROOT / PAGE_ASSETS_DIR)
    """GCP: the page assets infra uploads into the DAG folder (`PAGE_ASSETS_DIR`)."""
    dataproc_service_account: str = ""
    dataproc_subnet: str = ""
    dataproc_kms_key: str = ""
    """Cloud KMS key the Dataproc batches are encrypted with; empty for Google-managed keys."""
    landing_subscription: str = ""
    """Pub/Sub subscription (id in `project`) on the landing bucket's file-arrival topic."""
    bq_location: str = "EU"
    landing_dir: Path = field(default_factory=lambda: REPO_ROOT / "var" / "landing")
    output_dir: Path = field(default_factory=lambda: REPO_ROOT / "var")
    source_tz: str = "UTC"
    reporting_tz: str = "UTC"
    default_currency: str = "USD"
    reporting_currency: str = REPORTING_CURRENCY
    """The currency of every gold amount (`CDI_REPORTING_CURRENCY`)."""
    fx_max_gap_days: int = FX_MAX_GAP_DAYS
    """How many days older than an order its rate may be (`CDI_FX_MAX_GAP_DAYS`)."""
    csv_delimiter: str = "auto"
    sources_path: Path = field(default_factory=lambda: REPO_ROOT / SOURCES_FILE)
    """Source settings as code (`spark.sources`): per entity and file glob, how files are read."""
    on_bad_file: Literal["fail", "warn"] = "fail"
    alert_emails: tuple[str, ...] = ()
    required_connections: tuple[str, ...] = ()
    """Connection ids the stack configured (`infra.components.secrets`): missing means broken, not skipped."""
    max_restate_days: int = MAX_RESTATE_DAYS
    looker_studio_url: str = ""
    """GCP: the Looker Studio report over the gold tables (`infra.looker_studio`), linked from the
    run summary."""
    landing_settle_seconds: float = 0.0
    """Local landing folder: a file modified less than this many seconds ago may still be being
    written, and is left for the next run. `cdi run` reads a folder written before it started (0);
    `cdi ui` watches one that files are copied into while it runs."""

    @classmethod
    def from_env(cls) -> Settings:
        target = _env("target", "local")
        if target not in ("local", "gcp"):
            raise ValueError(f"{ENV['target']}={target!r}: expected 'local' or 'gcp'")
        on_bad_file = _env("on_bad_file", "fail")
        if on_bad_file not in ("fail", "warn"):
            raise ValueError(f"{ENV['on_bad_file']}={on_bad_file!r}: expected 'fail' or 'warn'")
        output_dir = Path(_env("output_dir") or REPO_ROOT / "var").resolve()
        max_restate_days = _env("max_restate_days", str(MAX_RESTATE_DAYS))
        if not max_restate_days.isdigit():
            raise ValueError(f"{ENV['max_restate_days']}={max_restate_days!r}: expected a number of days")
        reporting_currency = _env("reporting_currency", REPORTING_CURRENCY).strip().upper()
        if len(reporting_currency) != 3 or not reporting_currency.isalpha():
            raise ValueError(f"{ENV['reporting_currency']}={reporting_currency!r}: expected an ISO 4217 code")
        fx_max_gap_days = _env("fx_max_gap_days", str(FX_MAX_GAP_DAYS))
        if not fx_max_gap_days.isdigit():
            raise ValueError(f"{ENV['fx_max_gap_days']}={fx_max_gap_days!r}: expected a number of days")
        settle = _env("landing_settle_seconds", "0")
        try:
            landing_settle_seconds = float(settle)
        except ValueError:
            raise ValueError(
                f"{ENV['landing_settle_seconds']}={settle!r}: expected a number of seconds"
            ) from None
        return cls(
            target=target,  # type: ignore[arg-type]
            project=_env("project"),
            region=_env("region", "europe-west1"),
            landing_bucket=_env("landing_bucket"),
            archive_bucket=_env("archive_bucket"),
            quarantine_bucket=_env("quarantine_bucket"),
            staging_bucket=_env("staging_bucket"),
            artifacts_bucket=_env("artifacts_bucket"),
            reports_bucket=_env("reports_bucket"),
            page_assets=Path(_env("page_assets") or REPO_ROOT / PAGE_ASSETS_DIR),
            dataproc_service_account=_env("dataproc_service_account"),
            dataproc_subnet=_env("dataproc_subnet"),
            dataproc_kms_key=_env("dataproc_kms_key"),
            landing_subscription=_env("landing_subscription"),
            bq_location=_env("bq_location", "EU"),
            landing_dir=Path(_env("landing_dir") or output_dir / "landing").resolve(),
            output_dir=output_dir,
            source_tz=_env("source_tz", "UTC"),
            reporting_tz=_env("reporting_tz", "UTC"),
            default_currency=_env("default_currency", "USD"),
            reporting_currency=reporting_currency,
            fx_max_gap_days=int(fx_max_gap_days),
            csv_delimiter=_env("csv_delimiter", "auto"),
            sources_path=Path(_env("sources") or REPO_ROOT / SOURCES_FILE).resolve(),
            on_bad_file=on_bad_file,  # type: ignore[arg-type]
            alert_emails=tuple(e for e in _env("alert_emails").split(",") if e),
            required_connections=tuple(c for c in _env("required_connections").split(",") if c),
            max_restate_days=int(max_restate_days),
            landing_settle_seconds=landing_settle_seconds,
            looker_studio_url=_env("looker_studio_url"),
        )

    # Local target layout under the output folder.
    @property
    def warehouse_path(self) -> Path:
        return self.output_dir / "warehouse.duckdb"

    @property
    def archive_dir(self) -> Path:
        return self.output_dir / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.output_dir / "quarantine"

    @property
    def staging_dir(self) -> Path:
        return self.output_dir / "staging"

    @property
    def reports_dir(self) -> Path:
        return self.output_dir / "reports"

    @property
    def report_path(self) -> Path:
        return self.output_dir / "report.json"

    @property
    def dashboard_dir(self) -> Path:
        return self.output_dir / "dashboard"

    @property
    def airflow_home(self) -> Path:
        return self.output_dir / "airflow"
