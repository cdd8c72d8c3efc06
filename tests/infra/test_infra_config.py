"""Stack config: both stack files load into the typed config, and bad values are refused by key."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest

from infra import config
from infra.config import ConfigError, composer_pypi_packages
from infra.mocks import OFFLINE_SECRETS, stack_config_values
from pipeline.versions import MATRIX


@pytest.fixture
def set_config() -> Iterator[None]:
    yield
    pulumi.runtime.set_all_config({}, [])


def _load(stack: str, **overrides: object) -> config.StackConfig:
    values = {**OFFLINE_SECRETS, **stack_config_values(stack)}
    for key, value in overrides.items():
        values[f"cdi:{key}"] = value if isinstance(value, str) else json.dumps(value)
    pulumi.runtime.set_all_config(values, list(OFFLINE_SECRETS))
    return config.load(stack)


@pytest.mark.usefixtures("set_config")
def test_every_environment_difference_is_stack_config() -> None:
    dev, prod = _load("dev"), _load("prod")
    assert (dev.project, prod.project) == ("cdi-dev", "cdi-prod")
    assert dev.region == prod.region == "europe-west1"
    assert dev.data_location == prod.data_location == "EU"
    assert (dev.private_networking, prod.private_networking) == (False, True)
    assert (dev.cmek, prod.cmek) == (False, True)
    assert (dev.deletion_protection, prod.deletion_protection) == (False, True)
    assert dev.composer.image_version.startswith("composer-3-airflow-3.")
    assert dev.composer.environment_size != prod.composer.environment_size
    assert prod.composer.worker.max_count > dev.composer.worker.max_count
    assert prod.retention.quarantine_expiry_days > dev.retention.quarantine_expiry_days
    assert dev.alerts.emails
    assert prod.alerts.emails
    assert dev.alerts.emails != prod.alerts.emails
    assert dev.labels["env"] == "dev"
    assert prod.labels["env"] == "prod"
    assert all(dev.labels[k] for k in config.REQUIRED_LABELS)
    assert prod.kms_data_location == "europe"


@pytest.mark.usefixtures("set_config")
def test_config_is_frozen() -> None:
    cfg = _load("dev")
    with pytest.raises(AttributeError):
        cfg.project = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.labels["env"] = "prod"  # type: ignore[index]


@pytest.mark.usefixtures("set_config")
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"composer": {"imageVersion": "composer-2.9.0-airflow-2.9.3"}}, "Composer 3 Airflow 3"),
        ({"alerts": {"emails": [], "freshnessHours": 26}}, "alerts.emails"),
        ({"alerts": {"emails": ["a@example.com"], "freshnessHours": 26, "slackChannel": "#x"}}, "slackToken"),
        ({"labels": {"team": "Data Platform"}}, "not a valid GCP label"),
        ({"pipeline": {"onBadFile": "ignore"}}, "onBadFile"),
        ({"pipeline": {"maxRestateDays": "many"}}, "maxRestateDays"),
        ({"pipeline": {"sourceTimezone": "UTC"}}, "unknown keys"),
        ({"githubRepository": "not a repo"}, "owner/name"),
    ],
)
def test_invalid_config_is_refused_with_the_key(overrides: dict[str, object], message: str) -> None:
    secrets = {k: v for k, v in OFFLINE_SECRETS.items() if k != "cdi:slackToken"}
    values = {**secrets, **stack_config_values("dev")}
    for key, value in overrides.items():
        if key == "composer":
            merged = json.loads(values["cdi:composer"]) | value  # type: ignore[operator]
            value = merged
        values[f"cdi:{key}"] = value if isinstance(value, str) else json.dumps(value)
    pulumi.runtime.set_all_config(values, list(secrets))
    with pytest.raises(ConfigError, match=message):
        config.load("dev")


@pytest.mark.usefixtures("set_config")
def test_slack_token_is_read_as_a_secret() -> None:
    values = {**OFFLINE_SECRETS, **stack_config_values("prod")}
    alerts = json.loads(values["cdi:alerts"]) | {"slackChannel": "#cdi-alerts"}
    values |= {"cdi:alerts": json.dumps(alerts), "cdi:slackToken": "xoxb-test"}
    pulumi.runtime.set_all_config(values, list(OFFLINE_SECRETS))
    cfg = config.load("prod")
    assert cfg.alerts.slack_channel == "#cdi-alerts"
    assert isinstance(cfg.alerts.slack_token, pulumi.Output)


def test_composer_installs_nothing_beyond_its_image() -> None:
    """Every `[project].dependencies` entry is in the image (versions.toml) at an accepted version."""
    assert tomllib.loads(config.PYPROJECT.read_text())["project"]["dependencies"]
    assert composer_pypi_packages() == {}


def test_composer_installs_what_the_image_lacks_or_ships_at_another_version(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    shipped = MATRIX.composer.packages["apache-airflow-providers-google"]
    pyproject.write_text(
        "[project]\ndependencies = [\n"
        f'  "apache-airflow-providers-google=={shipped}",\n'
        '  "apache-airflow-providers-http>=999",\n'
        '  "Not-In-Image>=1.0",\n'
        "]\n"
    )
    assert composer_pypi_packages(pyproject) == {
        "apache-airflow-providers-http": ">=999",
        "not-in-image": ">=1.0",
    }


@pytest.mark.usefixtures("set_config")
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_stack_on_another_image_than_the_matrix_is_refused(stack: str) -> None:
    assert _load(stack).composer.image_version == MATRIX.composer.image
    other = MATRIX.composer.image.rsplit(".", 1)[0] + ".0"
    with pytest.raises(ConfigError, match="version matrix"):
        _load(stack, composer={"imageVersion": other})


def test_composer_packages_refuse_markers(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[project]\ndependencies = [\"x>=1; python_version<'3.12'\"]\n")
    with pytest.raises(ConfigError, match="only name, extras and version"):
        composer_pypi_packages(pyproject)


@pytest.mark.usefixtures("set_config")
def test_the_history_server_key_is_refused() -> None:
    """Runtime 3.0 batches cannot use a persistent history server (spark-runtime-3.0 page): a stack
    file still asking for one fails loudly instead of silently getting nothing."""
    with pytest.raises(ConfigError, match="dataprocHistoryServer"):
        _load("prod", dataprocHistoryServer=True)
