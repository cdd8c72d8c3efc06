"""Property-based tests: arbitrary garbage never crashes the cleaning and never loses a row.

Few examples each (every example runs Spark), but each example is a whole batch of garbage rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812

from spark import contract, refdata, transform
from spark.job import InputFile, JobConfig, run_job


def _dedupe(entity: str, source_files: list[str]) -> Callable[[DataFrame], DataFrame]:
    """The job's duplicate marking over a whole frame: winners, then every other row of their key."""
    return lambda df: df.transform(
        transform.mark_duplicates(entity, transform.duplicate_winners(df), source_files)
    )


CanonicalFactory = Callable[..., DataFrame]
END = datetime(2024, 7, 1, tzinfo=UTC)
TX_COLUMNS = list(contract.ENTITIES["transactions"].source_columns)

# Text that looks almost right as often as it looks like noise.
_near_misses = st.sampled_from(
    ["", " ", "2024-06-01", "2024-06-01T10:00:00Z", "1717236000", "-1", "0", "1,5", "$3", "NaN", "1e400", "usd",
     "Completed", "T1", "null", "\x00", "\ufeff", "9" * 40, "05/06/2024", "é"]
)  # fmt: skip
_garbage = st.one_of(st.none(), _near_misses, st.text(max_size=30))
_rows = st.lists(st.fixed_dictionaries(dict.fromkeys(TX_COLUMNS, _garbage)), min_size=1, max_size=25)
_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    # every example runs Spark: report the failing example as found, without shrinking it
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@settings(_SETTINGS, max_examples=6)
@given(rows=_rows)
def test_garbage_transaction_rows_each_end_valid_or_with_exactly_one_known_reason(
    spark: SparkSession, canonical: CanonicalFactory, rows: list[dict[str, str | None]]
) -> None:
    classified = (
        canonical("transactions", rows)
        .transform(
            transform.clean_transactions(
                logical_end=END, currencies=refdata.currency_codes(), source_tz="Asia/Kolkata"
            )
        )
        .transform(_dedupe("transactions", ["f.csv"]))
        .transform(transform.with_raw_record([transform.map_columns("transactions", TX_COLUMNS)]))
    )
    silver = classified.transform(transform.silver_rows("transactions", "r"))
    quarantine = classified.transform(transform.quarantine_rows("transactions", "r"))
    reasons = [r["reason"] for r in quarantine.select("reason").collect()]
    assert silver.count() + len(reasons) == len(rows)
    assert set(reasons) <= set(contract.REASONS)
    assert (
        classified.where(F.col(transform.REASON).isNotNull() & F.col(transform.DETAIL).isNull()).count() == 0
    )


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


_header = st.lists(
    st.sampled_from([*TX_COLUMNS, "order_id", "total", "Extra Col", "", "id"]), min_size=1, max_size=8
)
_csv_text = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"), max_size=20
)


@settings(_SETTINGS, max_examples=3)
@given(
    header=_header,
    rows=st.lists(st.lists(_csv_text, min_size=0, max_size=10), min_size=0, max_size=15),
    lines=st.lists(
        st.one_of(_csv_text, st.dictionaries(st.sampled_from(TX_COLUMNS), _garbage).map(json.dumps))
    ),
)
def test_the_job_never_crashes_on_garbage_files_and_always_conserves_rows(
    spark: SparkSession,
    tmp_path_factory: pytest.TempPathFactory,
    header: list[str],
    rows: list[list[str]],
    lines: list[str],
) -> None:
    root = tmp_path_factory.mktemp("garbage")
    csv_path = root / "garbage.csv"
    csv_path.write_bytes(_csv_bytes(header, rows))
    jsonl_path = root / "garbage.jsonl"
    jsonl_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = JobConfig(
        run_id="prop",
        inputs=(
            InputFile("transactions", str(csv_path), "landing/transactions/garbage.csv"),
            InputFile("transactions", str(jsonl_path), "landing/transactions/garbage.jsonl"),
        ),
        output=str(root / "out"),
        logical_end=END,
    )
    metrics = run_job(spark, config)  # raises ConservationError when a row is lost
    assert metrics["conservation"]["ok"] is True
    for stats in metrics["file_stats"]:
        assert stats["rows_read"] == stats["rows_valid"] + stats["rows_quarantined"]
