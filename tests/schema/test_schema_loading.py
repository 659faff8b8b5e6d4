"""Loading the vendored schema: lazily, once, small and fast, with the right data."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import tracemalloc

from proxmox_operator_mcp.schema import DATA_FILE, ApiSchema, Endpoint, Param, get_schema, load_schema


def test_importing_the_package_reads_no_file_and_loads_no_schema() -> None:
    code = textwrap.dedent(
        """
        import sys
        opened = []
        sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
        import proxmox_operator_mcp.schema as schema
        data_reads = [p for p in opened if "schema/data" in p.replace("\\\\", "/")]
        assert data_reads == [], data_reads
        assert schema.get_schema.cache_info().currsize == 0
        assert "gzip" not in sys.modules and "json" not in sys.modules, "loader modules imported eagerly"
        schema.get_schema()
        assert any("schema/data" in p.replace("\\\\", "/") for p in opened)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_get_schema_loads_once_and_returns_the_same_object() -> None:
    assert get_schema() is get_schema()
    assert get_schema.cache_info().currsize == 1


def test_schema_describes_pve_9_2_with_all_675_endpoints() -> None:
    schema = get_schema()
    assert isinstance(schema, ApiSchema)
    assert schema.version == "9.2"
    assert len(schema.endpoints) == 675
    assert len({(e.method, e.path) for e in schema.endpoints}) == 675
    counts = {m: sum(e.method == m for e in schema.endpoints) for m in ("GET", "POST", "PUT", "DELETE")}
    assert counts == {"GET": 340, "POST": 173, "PUT": 83, "DELETE": 79}


def test_loading_takes_little_memory_and_time() -> None:
    load_schema(DATA_FILE)  # warm imports and regex caches out of the measurement
    tracemalloc.start()
    try:
        started = time.perf_counter()
        schema = load_schema(DATA_FILE)
        elapsed = time.perf_counter() - started
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(schema.endpoints) == 675
    assert peak < 15 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert current < 15 * 2**20
    # generous: tracemalloc slows the loader down several times
    assert elapsed < 2.0, f"{elapsed * 1000:.0f} ms"


def test_endpoint_carries_task_auth_and_proxy_metadata() -> None:
    schema = get_schema()
    start = schema.get("POST", "/nodes/{node}/qemu/{vmid}/status/start")
    assert isinstance(start, Endpoint)
    assert start.returns_task == "yes" and start.returns_task_inferred
    assert start.proxyto == "node"
    assert start.protected and start.allowtoken
    assert start.permissions == {"check": ["perm", "/vms/{vmid}", ["VM.PowerMgmt"]]}
    assert start.path_params == ("node", "vmid")
    assert start.name == "vm_start"
    assert "Start virtual machine" in start.description

    snapshot = schema.get("POST", "/nodes/{node}/qemu/{vmid}/snapshot")
    assert snapshot is not None and snapshot.returns_task == "yes" and not snapshot.returns_task_inferred
    vncproxy = schema.get("POST", "/nodes/{node}/qemu/{vmid}/vncproxy")
    assert vncproxy is not None and vncproxy.returns_task == "upid-in-object"
    status = schema.get("GET", "/nodes/{node}/qemu/{vmid}/status/current")
    assert status is not None and status.returns_task == "no"
    assert status.returns["type"] == "object"


def test_exactly_the_five_token_refusing_methods_have_allowtoken_false() -> None:
    refusing = sorted((e.method, e.path) for e in get_schema().endpoints if not e.allowtoken)
    assert refusing == [
        ("DELETE", "/access/tfa/{userid}/{id}"),
        ("POST", "/access/tfa/{userid}"),
        ("POST", "/access/ticket"),
        ("PUT", "/access/password"),
        ("PUT", "/access/tfa/{userid}/{id}"),
    ]


def test_parameters_are_typed_with_constraints_and_path_parameters_included() -> None:
    start = get_schema().get("POST", "/nodes/{node}/qemu/{vmid}/status/start")
    assert start is not None
    vmid = start.parameters["vmid"]
    assert isinstance(vmid, Param)
    assert (vmid.type, vmid.format, vmid.minimum, vmid.maximum, vmid.optional) == (
        "integer",
        "pve-vmid",
        100,
        999999999,
        False,
    )
    assert start.parameters["node"].format == "pve-node"
    timeout = start.parameters["timeout"]
    assert timeout.optional and timeout.type == "integer" and timeout.minimum == 0
    migration_type = start.parameters["migration_type"]
    assert migration_type.enum == ("secure", "insecure")
    assert start.required == []


def test_indexed_parameters_keep_their_schema_name_and_know_their_bound() -> None:
    schema = get_schema()
    create = schema.get("POST", "/nodes/{node}/qemu")
    assert create is not None
    net = create.parameters["net[n]"]
    assert net.indexed and net.index_max == 31
    assert isinstance(net.format, dict) and net.format["model"]["default_key"] == 1
    assert net.property_format is net.format
    assert create.parameters["scsi[n]"].index_max == 30
    assert create.parameters["ide[n]"].index_max == 3
    assert "net0" not in create.parameters
    lxc = schema.get("POST", "/nodes/{node}/lxc")
    assert lxc is not None and lxc.parameters["mp[n]"].index_max == 255
    node_config = schema.get("PUT", "/nodes/{node}/config")
    assert node_config is not None and node_config.parameters["acmedomain[n]"].index_max == 5
    join = schema.get("POST", "/cluster/config/join")
    assert join is not None and join.parameters["link[n]"].index_max == 7


def test_array_parameters_expose_their_item_schema() -> None:
    start = get_schema().get("POST", "/cluster/bulk-action/guest/start")
    assert start is not None
    vms = start.parameters["vms"]
    assert vms.type == "array" and vms.items is not None
    assert vms.items.type == "integer" and vms.items.format == "pve-vmid"


def test_path_parameters_missing_from_the_upstream_schema_are_added_as_strings() -> None:
    entry = get_schema().get("GET", "/cluster/sdn/prefix-lists/{id}/entries/{url_seq}")
    assert entry is not None
    assert entry.parameters["url_seq"].type == "string"
    assert entry.parameters["url_seq"].raw.get("x-synthesized") == 1


def test_named_property_formats_resolve_to_key_dictionaries() -> None:
    create = get_schema().get("POST", "/nodes/{node}/qemu")
    assert create is not None
    cpu = create.parameters["cpu"]
    assert cpu.format == "pve-vm-cpu-conf"
    keys = cpu.property_format
    assert keys is not None and keys["cputype"].get("default_key") and keys["hidden"]["type"] == "boolean"
    ipconfig = create.parameters["ipconfig[n]"].property_format
    assert ipconfig is not None and ipconfig["gw"]["format"] == "ipv4"
    assert create.parameters["hotplug"].property_format is None  # a plain named format
