"""Finding endpoints by keyword or by path."""

from __future__ import annotations

from proxmox_operator_mcp.schema import get_schema


def _first(query: str) -> tuple[str, str]:
    found = get_schema().search(query, limit=1)
    assert found, query
    return found[0].method, found[0].path


def test_a_concrete_path_lists_that_paths_methods_first() -> None:
    found = get_schema().search("/nodes/pve1/qemu/100/config")
    assert [(e.method, e.path) for e in found[:3]] == [
        ("GET", "/nodes/{node}/qemu/{vmid}/config"),
        ("POST", "/nodes/{node}/qemu/{vmid}/config"),
        ("PUT", "/nodes/{node}/qemu/{vmid}/config"),
    ]


def test_an_exact_template_comes_first() -> None:
    assert _first("/nodes/{node}/qemu/{vmid}/status/start") == ("POST", "/nodes/{node}/qemu/{vmid}/status/start")


def test_a_method_word_filters_by_method() -> None:
    assert _first("/nodes/pve1/qemu/100/config PUT") == ("PUT", "/nodes/{node}/qemu/{vmid}/config")
    assert all(e.method == "POST" for e in get_schema().search("POST snapshot", limit=10))


def test_keywords_match_paths_descriptions_and_synonyms() -> None:
    assert _first("start vm") == ("POST", "/nodes/{node}/qemu/{vmid}/status/start")
    assert _first("stop container") == ("POST", "/nodes/{node}/lxc/{vmid}/status/stop")
    assert _first("delete vm") == ("DELETE", "/nodes/{node}/qemu/{vmid}")
    assert _first("create user") == ("POST", "/access/users")
    assert ("GET", "/cluster/tasks") in [(e.method, e.path) for e in get_schema().search("list tasks", limit=3)]


def test_parameter_names_are_searchable() -> None:
    paths = {e.path for e in get_schema().search("ipconfig0 cicustom", limit=10)}
    assert "/nodes/{node}/qemu/{vmid}/config" in paths


def test_limit_is_honoured_and_nonsense_finds_nothing() -> None:
    assert len(get_schema().search("qemu", limit=5)) == 5
    assert get_schema().search("qemu", limit=0) == []
    assert get_schema().search("zzqqxx") == []
    assert get_schema().search("   ") == []
