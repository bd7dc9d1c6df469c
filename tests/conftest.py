"""Shared fixtures. Layers: unit (pure), service (real local MariaDB / php-cli), lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vpsrescue.mariadb import ThrowawayMariaDB

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayMariaDB]:
    """A real MariaDB server on a private socket, fresh datadir, for the whole session.

    Tests create their own databases (unique names) and drop nothing they did not make.
    """
    datadir = tmp_path_factory.mktemp("mariadb") / "data"
    with ThrowawayMariaDB(datadir, initialize=True) as db:
        yield db
