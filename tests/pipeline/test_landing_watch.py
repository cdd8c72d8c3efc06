"""File arrival on the local target: the landing folder trigger on a real folder, and the rule a
file must meet (settled) before it starts a run or is claimed."""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset, AssetOrTimeSchedule

from pipeline.config import ENV
from pipeline.landing import landing_files, settled
from pipeline.landing_watch import WATCH_STATE_FILE, LandingFolderTrigger, ready
from pipeline.schedule import DAILY_CRON, LANDING_ASSET

POLL = 0.1


def _trigger(landing: Path, state: Path, settle: float) -> LandingFolderTrigger:
    return LandingFolderTrigger(
        landing_dir=str(landing), state_file=str(state), settle_seconds=settle, poll_seconds=POLL
    )


async def _events(trigger: LandingFolderTrigger, seconds: float) -> list[list[str]]:
    """The file lists the trigger announces within `seconds`."""
    found: list[list[str]] = []

    async def collect(stream: AsyncIterator[Any]) -> None:
        async for event in stream:
            found.append(event.payload["files"])

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(collect(trigger.run()), timeout=seconds)
    return found


def test_a_file_is_ready_once_unchanged_settled_and_not_announced_in_this_version() -> None:
    now = 1_000.0
    old = int((now - 10) * 1e9)
    fresh = int((now - 0.5) * 1e9)
    current = {"a": (10, old), "b": (10, fresh), "c": (12, old), "d": (5, old)}
    previous = {"a": (10, old), "b": (10, fresh), "c": (11, old), "d": (5, old)}
    announced = {"d": (5, old), "a": (9, old)}
    # a: a new version, settled -> ready; b: too fresh; c: grew since the last poll; d: announced.
    assert ready(previous, current, announced, now=now, settle_seconds=2) == {"a": (10, old)}
    assert settled(now - 2, now, 2)
    assert not settled(now - 1.9, now, 2)


def test_the_trigger_announces_a_settled_file_once_and_a_changed_one_again(tmp_path: Path) -> None:
    landing, state = tmp_path / "landing", tmp_path / WATCH_STATE_FILE
    (landing / "transactions").mkdir(parents=True)
    (landing / "customers").mkdir()
    first = landing / "transactions" / "day1.csv"
    first.write_text("id\n1\n", encoding="utf-8")
    (landing / "transactions" / ".day1.csv.partial").write_text(
        "id\n", encoding="utf-8"
    )  # a copy tool's temp
    (landing / "elsewhere.csv").write_text("id\n", encoding="utf-8")  # not under an entity folder
    assert asyncio.run(_events(_trigger(landing, state, 0.2), 1.5)) == [[str(first)]]

    # A restarted watcher (a new `cdi ui`) remembers what it announced...
    second = landing / "customers" / "crm.csv"
    second.write_text("customer_id\nC1\n", encoding="utf-8")
    assert asyncio.run(_events(_trigger(landing, state, 0.2), 1.5)) == [[str(second)]]
    # ...and a file that changed (a fixed export under the same name) is announced again.
    first.write_text("id\n1\n2\n", encoding="utf-8")
    assert asyncio.run(_events(_trigger(landing, state, 0.2), 1.5)) == [[str(first)]]


def test_a_file_still_being_written_is_announced_only_when_complete(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "transactions").mkdir(parents=True)
    growing = landing / "transactions" / "big.csv"

    async def write_slowly() -> None:
        with growing.open("w", encoding="utf-8") as f:
            for i in range(8):
                f.write(f"row {i}\n")
                f.flush()
                await asyncio.sleep(0.25)

    async def watch() -> tuple[list[list[str]], list[int]]:
        trigger = _trigger(landing, tmp_path / WATCH_STATE_FILE, 0.5)
        sizes: list[int] = []

        async def collect() -> None:
            async for event in trigger.run():
                sizes.append(growing.stat().st_size)
                found.append(event.payload["files"])

        found: list[list[str]] = []
        writer = asyncio.create_task(write_slowly())
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(collect(), timeout=4.0)
        await writer
        return found, sizes

    found, sizes = asyncio.run(watch())
    assert found == [[str(growing)]]
    assert sizes == [len("".join(f"row {i}\n" for i in range(8)))]


def test_a_run_leaves_a_file_modified_within_the_settle_time_for_the_next_run(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "transactions").mkdir(parents=True)
    done = landing / "transactions" / "done.csv"
    copying = landing / "transactions" / "copying.csv"
    for path in (done, copying):
        path.write_text("id\n1\n", encoding="utf-8")
    an_hour_ago = time.time() - 3600
    os.utime(done, (an_hour_ago, an_hour_ago))
    assert landing_files(landing, settle_seconds=30) == [("transactions", done)]
    # `cdi run` reads a folder written before it started: everything, however fresh.
    assert landing_files(landing) == [("transactions", copying), ("transactions", done)]


def test_the_local_dag_is_scheduled_like_the_gcp_one_with_the_folder_watcher(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pipeline.dag import build_dag

    monkeypatch.setenv(ENV["output_dir"], str(tmp_path / "out"))
    monkeypatch.setenv(ENV["landing_dir"], str(tmp_path / "in"))
    monkeypatch.setenv(ENV["landing_settle_seconds"], "3")
    local = build_dag("local").timetable
    assert isinstance(local, AssetOrTimeSchedule)
    asset = local.asset_condition
    assert isinstance(asset, Asset)
    # The same shape as the gcp DAG's (tests/gcp/test_gcp_dag_integrity.py checks it there).
    assert local.timetable.expression == DAILY_CRON
    assert asset.name == LANDING_ASSET
    assert asset.uri == (tmp_path / "in").as_uri()
    (watcher,) = asset.watchers
    # What the triggerer does with it: import the class by the path it serialized to, rebuild it.
    classpath, kwargs = watcher.trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert isinstance(rebuilt, LandingFolderTrigger)
    assert (rebuilt.landing_dir, rebuilt.settle_seconds) == (str(tmp_path / "in"), 3.0)
    assert rebuilt.state_file == str(tmp_path / "out" / "airflow" / WATCH_STATE_FILE)


def test_cdi_ui_refuses_a_port_in_use_and_an_output_another_ui_holds(tmp_path: Path) -> None:
    import socket

    from pipeline import local_ui
    from pipeline.usage_error import UsageError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} is in use"):
            local_ui.check_port(port)
    # What a second `cdi ui` or a `cdi run` on the same OUTPUT meets (another process in real life:
    # flock locks belong to an open file, so a second open of the file conflicts here too).
    with local_ui.exclusive(tmp_path), pytest.raises(UsageError, match="a `cdi ui` is running on"):
        local_ui.check_not_running(tmp_path)
    local_ui.check_not_running(tmp_path)  # released with its holder
