"""Fixtures for the transport tests: a real OpenSSH sshd and an in-process asyncssh server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from . import sshd as _sshd


@pytest.fixture(scope="session")
def real_sshd() -> Iterator[_sshd.Sshd]:
    """One OpenSSH sshd for the whole test session (about 50 ms to start)."""
    reason = _sshd.sshd_unavailable()
    if reason:
        pytest.skip(reason)
    server = _sshd.start_sshd()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sim_sshd() -> Iterator[_sshd.Sshd]:
    """A second OpenSSH sshd whose pvesh/qm/pct/pvesm talk to a simulator (see ``Sshd.use_sim``)."""
    reason = _sshd.sshd_unavailable()
    if reason:
        pytest.skip(reason)
    server = _sshd.start_sshd(fakes=_sshd.SIM_FAKES)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def fake_node() -> AsyncIterator[_sshd.FakeNode]:
    """A fresh in-process SSH server per test."""
    node = _sshd.new_fake_node()
    await node.start()
    try:
        yield node
    finally:
        await node.stop()
