"""UPID parsing and formatting: pure, no server."""

from __future__ import annotations

import datetime as dt

import pytest

from proxmox_operator_mcp.errors import InvalidArgumentError
from proxmox_operator_mcp.transports.upid import Upid, is_upid

REAL_UPIDS = [
    "UPID:pve1:00001A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam:",
    "UPID:pve-node-02:000F4240:1ABCDEF12:65F0A0B1:vzdump:101:root@pam!mcp:",  # 9-digit pstart, token
    "UPID:pve1:00000001:00000002:65F0A0B1:aptupdate::root@pam:",  # empty id
    "UPID:n1:0000abcd:0abcdef12:65f0a0b1:qmclone:100:alice@pve:",  # lowercase, zero-padded 9 digits
]


@pytest.mark.parametrize("text", REAL_UPIDS)
def test_a_parsed_upid_formats_back_to_exactly_the_same_text(text: str) -> None:
    upid = Upid.parse(text)
    assert str(upid) == text
    assert is_upid(text)


def test_parsing_gives_typed_fields_with_a_token_user() -> None:
    upid = Upid.parse("UPID:pve-node-02:000F4240:1ABCDEF12:65F0A0B1:vzdump:101:root@pam!mcp:")
    assert upid.node == "pve-node-02"
    assert upid.pid == 0xF4240
    assert upid.pstart == 0x1ABCDEF12
    assert upid.starttime == 0x65F0A0B1
    assert upid.type == "vzdump"
    assert upid.id == "101"
    assert upid.user == "root@pam!mcp"
    assert upid.started == dt.datetime.fromtimestamp(0x65F0A0B1, tz=dt.UTC)


def test_a_upid_built_from_fields_formats_like_pve() -> None:
    upid = Upid(
        node="pve1", pid=0x1A2B, pstart=0x1C3D4, starttime=0x65F0A0B1, type="qmstart", id="101", user="root@pam"
    )
    assert str(upid) == "UPID:pve1:00001A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam:"
    assert upid == Upid.parse(str(upid))
    big = Upid(node="pve1", pid=1, pstart=0x1ABCDEF12, starttime=1, type="t", id="", user="u@pam")
    assert str(big).split(":")[3] == "1ABCDEF12"


def test_a_upid_without_the_trailing_colon_is_rejected_saying_so() -> None:
    with pytest.raises(InvalidArgumentError, match="trailing ':'"):
        Upid.parse("UPID:pve1:00001A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "pve1:00001A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam:",  # no UPID: prefix
        "UPID:-pve1:00001A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam:",  # node starts with '-'
        "UPID:pve1:1A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam:",  # pid not 8 digits
        "UPID:pve1:00001A2B:0001C3D4FF:65F0A0B1:qmstart:101:root@pam:",  # pstart 10 digits
        "UPID:pve1:00001A2B:0001C3D4:65F0A0B1:qm start:101:root@pam:",  # space in type
        "UPID:pve1:00001A2B:0001C3D4:65F0A0B1:qmstart:101::",  # empty user
        "UPID:pve1:00001A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam:\n",  # trailing newline
        "UPID:pve/../x:00001A2B:0001C3D4:65F0A0B1:qmstart:101:root@pam:",  # path characters in node
    ],
)
def test_malformed_upids_are_rejected_with_a_clear_error(text: str) -> None:
    with pytest.raises(InvalidArgumentError, match="not a PVE task id") as info:
        Upid.parse(text)
    assert info.value.hint
    assert not is_upid(text)


def test_a_non_string_is_not_a_upid() -> None:
    with pytest.raises(InvalidArgumentError, match="must be a string"):
        Upid.parse(101)  # type: ignore[arg-type]
    assert not is_upid(None)


def test_a_very_long_bad_upid_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        Upid.parse("UPID:" + "x" * 10_000)
    assert len(info.value.message) < 500
