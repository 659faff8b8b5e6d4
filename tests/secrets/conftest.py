"""Fixtures for the secrets tests: real OpenBao servers (see openbao.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from proxmox_operator_mcp.secrets import REDACTOR

from .openbao import OpenBao, start_openbao


@pytest.fixture(scope="session")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """One OpenBao shared by the tests that do not stop it (each uses its own names)."""
    server = start_openbao(tmp_path_factory.mktemp("bao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """An OpenBao for one test, which may stop it."""
    server = start_openbao(tmp_path_factory.mktemp("bao-own"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def tls_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    """An OpenBao serving HTTPS with its own CA (tls/vault-ca.pem)."""
    server = start_openbao(tmp_path_factory.mktemp("bao-tls"), tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    """Values registered by one test must not mask another test's output."""
    REDACTOR.clear()
    yield
    REDACTOR.clear()
