"""Serve Airflow's own REST API (the FastAPI app of `airflow api-server`) on a listening socket the
parent hands over, with its own AIRFLOW_HOME and sqlite metadata DB:

    python -m tests.infra.airflow_api_server --output DIR --fd N

The DB is a copy of the migrated template `cdi run` caches (`pipeline.cli._migrate_airflow_db`).
Auth: the SimpleAuthManager with `simple_auth_manager_all_admins`, whose middleware adds an admin
JWT to every request that arrives without an Authorization header; a request that brings its own
bearer token must bring an Airflow JWT (anything else is answered 403).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.infra.airflow_api_server", description=__doc__)
    parser.add_argument(
        "--output", required=True, type=Path, help="folder of this server (AIRFLOW_HOME under it)"
    )
    parser.add_argument("--fd", required=True, type=int, help="file descriptor of a listening TCP socket")
    args = parser.parse_args(argv)
    home = args.output.resolve() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    from pipeline.cli import _migrate_airflow_db

    _migrate_airflow_db(args.output.resolve())

    import uvicorn
    from airflow.api_fastapi.app import create_app

    uvicorn.run(create_app(apps="core"), fd=args.fd, log_level="warning")


if __name__ == "__main__":
    main()
