# The two commands of the README: `make run` (the local pipeline, end to end) and `make test`.
SHELL := /bin/bash
UV ?= uv
INPUT ?=
OUTPUT ?=
ROWS ?= 10000000
FILES ?= 365
export PYTHONUNBUFFERED := 1

.PHONY: run ui test lint typecheck sqllint pytest setup java chromium screenshots fmt plan test-crash package-spark bench-clean bench-daily bench-files bench-incremental clean

# The environment, once per change of the lock: packages compiled to bytecode (where
# PYTHONDONTWRITEBYTECODE is set, as on CI machines and in containers, Python would otherwise
# compile Airflow, FastAPI and the rest again in every new process: ~5 s of each `cdi run`), and
# the JVM class archive that makes Spark start faster (pipeline/spark_session.py). Then this
# checkout's own modules, compiled on every `make setup` (only the changed ones): each `cdi run`, task
# process and Spark Python worker imports them (about 0.4 s each without their bytecode).
setup: java .venv/.cdi-setup
	@$(UV) run --locked python -m compileall -q pipeline spark sql bench infra tests >/dev/null

.venv/.cdi-setup: uv.lock pyproject.toml
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet --compile-bytecode
	@$(UV) run --locked python -m pipeline.spark_session
	@touch $@

# Spark needs a Java runtime (17+); install it with apt when this machine has none.
java:
	@bash .ci/ensure-java

# `make run`: the demo into var/. `make run INPUT=dir`: a run on dir into out/<dir's name>, unless
# OUTPUT=... names the output folder (cdi decides the defaults, so both commands agree).
run: setup
	$(UV) run --locked cdi run $(if $(INPUT),--input $(INPUT)) $(if $(OUTPUT),--output $(OUTPUT))

# `make ui`: the local Airflow UI on the demo's landing folder (after `make run`), or on INPUT=dir
# into OUTPUT (default out/<dir's name>); PORT=8080.
PORT ?= 8080
ui: setup
	$(UV) run --locked cdi ui $(if $(INPUT),--input $(INPUT)) $(if $(OUTPUT),--output $(OUTPUT)) --port $(PORT)

# The browser test's headless Chromium and chromedriver; installed with apt when missing.
chromium:
	@bash .ci/ensure-chromium

# `make screenshots`: docs/screenshots/ from the demo's pages (after `make run`), in headless Chromium.
screenshots: setup chromium
	$(UV) run --locked python tests/screenshots.py var/dashboard docs/screenshots

lint: setup
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .

typecheck: setup
	$(UV) run --locked mypy pipeline spark infra sql

sqllint: setup
	$(UV) run --locked sqlfluff lint sql

# Two workers, a test file each at a time (module fixtures stay in one process): the end-to-end
# files spend much of their time in Airflow's single-threaded task start-up, which overlaps well.
# Files are handed out in collection order, heaviest folders first (tests/conftest.py), not
# xdist's default of most tests first, which left the few-test, long end-to-end files for last
# and one worker running them alone.
TEST_WORKERS ?= 2
pytest: setup chromium
	$(UV) run --locked pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint typecheck sqllint pytest

fmt: setup
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .

# Kill a run at every task boundary (and inside the Spark step), restart it, compare: ~30 min.
test-crash: setup
	CDI_FULL_CRASH_MATRIX=1 $(UV) run --locked pytest tests/e2e/test_crash_recovery.py

# Offline plan of a Pulumi stack (no credentials): the resource tree with key properties.
STACK ?= dev
plan: setup
	$(UV) run --locked python -m infra.plan --stack $(STACK)

# The Spark job for Dataproc Serverless: dist/spark/job.py + dist/spark/cdi_spark.zip (--py-files).
package-spark: setup
	$(UV) run --locked python -m spark.package

bench-incremental: setup
	$(UV) run --locked python -m bench.incremental

bench-clean: setup
	$(UV) run --locked python -m bench.clean --rows $(ROWS)

# A one-file daily `cdi run`, cold, with and without the JVM class archive: Spark's share of it.
bench-daily: setup
	$(UV) run --locked python -m bench.daily

# N files of about 1,000 transaction rows against the same rows in one file (bench/README.md).
bench-files: setup
	$(UV) run --locked python -m bench.files --files $(FILES)

clean:
	rm -rf var dist .pytest_cache .mypy_cache .ruff_cache
