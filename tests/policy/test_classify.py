"""The built-in classification: every API endpoint, the CLI commands, files, and how an
Operation is read."""

from __future__ import annotations

import pytest

from proxmox_operator_mcp.operation import Operation, api_op
from proxmox_operator_mcp.policy.classify import (
    API_TABLE,
    CLI_TABLE,
    IMPACTS,
    classify_api,
    classify_cli,
    classify_file,
    endpoint_table,
    inspect_operation,
    resolve_template,
)
from proxmox_operator_mcp.schema import get_schema
from proxmox_operator_mcp.transports.cli import ALLOWED_BINARIES

# --- the API table ------------------------------------------------------------------------------


def test_the_table_lists_exactly_the_endpoints_of_the_vendored_schema() -> None:
    schema = {(e.method, e.path) for e in get_schema().endpoints}
    table = set(endpoint_table())
    assert len(table) == 675
    assert table - schema == set(), "classified endpoints the schema does not have"
    assert schema - table == set(), "endpoints nobody classified yet: add them to API_TABLE"


def test_every_endpoint_has_a_class_and_a_known_impact() -> None:
    for (method, path), c in endpoint_table().items():
        assert c.kind in ("read", "write", "destructive"), (method, path)
        assert c.impact is None or c.impact in IMPACTS, (method, path)
        assert c.known and not c.forbidden


def test_every_endpoint_template_resolves_to_itself() -> None:
    for method, path in endpoint_table():
        found = resolve_template(path)
        assert found is not None and found[0] == path, (method, path)


def test_every_non_get_is_at_least_a_write() -> None:
    for (method, path), c in endpoint_table().items():
        if method != "GET":
            assert c.kind in ("write", "destructive"), (method, path)


def test_gets_are_reads_except_consoles_and_migration_tunnels() -> None:
    not_reads = sorted(path for (m, path), c in endpoint_table().items() if m == "GET" and c.kind != "read")
    assert not_reads == [
        "/nodes/{node}/lxc/{vmid}/mtunnelwebsocket",
        "/nodes/{node}/lxc/{vmid}/vncwebsocket",
        "/nodes/{node}/qemu/{vmid}/mtunnelwebsocket",
        "/nodes/{node}/qemu/{vmid}/vncwebsocket",
        "/nodes/{node}/vncwebsocket",
    ]


def test_the_gets_that_return_secrets_are_marked_sensitive() -> None:
    secret = sorted(path for (m, path), c in endpoint_table().items() if c.sensitive)
    assert secret == [
        "/access/domains/{realm}",
        "/cluster/acme/plugins",
        "/cluster/acme/plugins/{id}",
        "/nodes/{node}/qemu/{vmid}/agent/file-read",
        "/nodes/{node}/qemu/{vmid}/cloudinit/dump",
        "/nodes/{node}/storage/{storage}/file-restore/download",
    ]
    for path in secret:
        c = endpoint_table()[("GET", path)]
        assert c.required_mode == "admin" and c.needs_confirmation


def test_schema_expose_credentials_endpoints_are_classified_deliberately() -> None:
    # expose_credentials means PVE forwards the caller's credentials to other nodes; the
    # metrics export is a plain read, mass shutdown/suspend are destructive.
    flagged = {(e.method, e.path) for e in get_schema().endpoints if e.expose_credentials}
    classes = {key: endpoint_table()[key].kind for key in flagged}
    assert classes == {
        ("GET", "/cluster/metrics/export"): "read",
        ("POST", "/cluster/bulk-action/guest/start"): "write",
        ("POST", "/cluster/bulk-action/guest/migrate"): "write",
        ("POST", "/cluster/bulk-action/guest/shutdown"): "destructive",
        ("POST", "/cluster/bulk-action/guest/suspend"): "destructive",
    }


@pytest.mark.parametrize(
    ("method", "path", "kind", "impact"),
    [
        ("GET", "/nodes/pve1/qemu/101/status/current", "read", None),
        ("GET", "/cluster/resources", "read", None),
        ("POST", "/nodes/pve1/qemu/101/status/start", "write", None),
        ("POST", "/nodes/pve1/qemu/101/status/shutdown", "write", None),
        ("POST", "/nodes/pve1/qemu/101/status/stop", "destructive", "hard-stop"),
        ("POST", "/nodes/pve1/lxc/200/status/stop", "destructive", "hard-stop"),
        ("POST", "/nodes/pve1/qemu/101/status/reset", "destructive", "reset"),
        ("DELETE", "/nodes/pve1/qemu/101", "destructive", "guest-destroy"),
        ("DELETE", "/nodes/pve1/lxc/200", "destructive", "guest-destroy"),
        ("POST", "/nodes/pve1/qemu/101/snapshot", "write", None),
        ("DELETE", "/nodes/pve1/qemu/101/snapshot/before-upgrade", "destructive", "snapshot-delete"),
        ("POST", "/nodes/pve1/qemu/101/snapshot/before-upgrade/rollback", "destructive", "rollback"),
        ("PUT", "/nodes/pve1/qemu/101/unlink", "destructive", "disk-unlink"),
        ("POST", "/nodes/pve1/qemu/101/template", "destructive", "template"),
        ("DELETE", "/nodes/pve1/storage/local/content/local:iso%2Fdebian.iso", "destructive", "volume-delete"),
        ("DELETE", "/pools/dev", "destructive", "pool-delete"),
        ("PUT", "/access/acl", "destructive", "acl"),
        ("POST", "/access/users", "destructive", "user"),
        ("PUT", "/access/users/bob@pve", "destructive", "user"),
        ("POST", "/access/users/bob@pve/token/ci", "destructive", "token"),
        ("POST", "/access/roles", "destructive", "role"),
        ("PUT", "/access/groups/ops", "destructive", "group"),
        ("POST", "/access/domains", "destructive", "realm"),
        ("POST", "/access/tfa/bob@pve", "destructive", "tfa"),
        ("PUT", "/access/password", "destructive", "password"),
        ("PUT", "/cluster/firewall/options", "destructive", "firewall"),
        ("POST", "/nodes/pve1/firewall/rules", "destructive", "firewall"),
        ("DELETE", "/nodes/pve1/qemu/101/firewall/rules/0", "destructive", "firewall"),
        ("PUT", "/cluster/sdn/vnets/v1/firewall/options", "destructive", "firewall"),
        ("GET", "/cluster/firewall/rules", "read", None),
        ("POST", "/nodes/pve1/stopall", "destructive", "stopall"),
        ("POST", "/nodes/pve1/startall", "write", None),
        ("POST", "/nodes/pve1/status", "destructive", "node-power"),
        ("GET", "/nodes/pve1/status", "read", None),
        ("POST", "/cluster/config/nodes/pve4", "destructive", "cluster-membership"),
        ("DELETE", "/cluster/config/nodes/pve4", "destructive", "cluster-membership"),
        ("POST", "/cluster/config/join", "destructive", "cluster-membership"),
        ("POST", "/nodes/pve1/execute", "destructive", "node-execute"),
        ("POST", "/nodes/pve1/termproxy", "destructive", "node-shell"),
        ("POST", "/nodes/pve1/vncshell", "destructive", "node-shell"),
        ("POST", "/nodes/pve1/spiceshell", "destructive", "node-shell"),
        ("POST", "/nodes/pve1/qemu/101/vncproxy", "destructive", "console"),
        ("GET", "/nodes/pve1/qemu/101/vncwebsocket", "destructive", "console"),
        ("POST", "/nodes/pve1/qemu/101/agent/exec", "destructive", "guest-exec"),
        ("GET", "/nodes/pve1/qemu/101/agent/exec-status", "read", None),
        ("POST", "/nodes/pve1/qemu/101/monitor", "destructive", "monitor"),
        ("PUT", "/nodes/pve1/disks/wipedisk", "destructive", "disk-wipe"),
        ("DELETE", "/nodes/pve1/ceph/pool/rbd", "destructive", "ceph-destroy"),
        ("POST", "/nodes/pve1/services/corosync/stop", "destructive", "service-stop"),
        ("POST", "/nodes/pve1/services/corosync/reload", "write", None),
        ("PUT", "/nodes/pve1/network", "destructive", "network-apply"),
        ("PUT", "/nodes/pve1/network/vmbr1", "write", None),
        ("DELETE", "/storage/nfs1", "destructive", "storage-remove"),
        ("POST", "/nodes/pve1/vzdump", "write", None),
        ("POST", "/access/ticket", "destructive", "ticket"),
        ("GET", "/access/ticket", "read", None),
    ],
)
def test_spot_checks_of_the_api_classification(method: str, path: str, kind: str, impact: str | None) -> None:
    c = classify_api(method, path)
    assert (c.kind, c.impact) == (kind, impact), c.reason


# --- parameters that change the class -------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "kind"),
    [("+10G", "write"), (" +1024M", "write"), ("-1G", "destructive"), ("32G", "destructive"), ("", "destructive")],
)
def test_a_disk_resize_is_a_write_only_when_it_grows(size: str, kind: str) -> None:
    for guest in ("qemu/101", "lxc/200"):
        c = classify_api("PUT", f"/nodes/pve1/{guest}/resize", {"disk": "scsi0", "size": size})
        assert c.kind == kind


@pytest.mark.parametrize(
    ("delete", "kind"),
    [
        ("net1,ide2", "destructive"),
        ("scsi1", "destructive"),
        ("unused0", "destructive"),
        ("description;onboot", "write"),
        ("net0", "write"),
        (["efidisk0"], "destructive"),
        (None, "write"),
    ],
)
def test_a_config_update_that_deletes_a_disk_entry_is_destructive(delete: object, kind: str) -> None:
    params = {"memory": 2048} if delete is None else {"delete": delete}
    assert classify_api("PUT", "/nodes/pve1/qemu/101/config", params).kind == kind
    assert classify_api("POST", "/nodes/pve1/qemu/101/config", params).kind == kind


def test_lxc_mount_points_count_as_disks() -> None:
    assert classify_api("PUT", "/nodes/pve1/lxc/200/config", {"delete": "mp0"}).impact == "disk-detach"


def test_a_shutdown_with_force_stop_is_a_possible_hard_stop() -> None:
    assert classify_api("POST", "/nodes/pve1/qemu/101/status/shutdown", {"forceStop": 1}).kind == "destructive"
    assert classify_api("POST", "/nodes/pve1/qemu/101/status/shutdown", {"forceStop": 0}).kind == "write"
    assert classify_api("POST", "/nodes/pve1/qemu/101/status/shutdown", {"forceStop": "true"}).kind == "destructive"


def test_a_restore_over_an_existing_guest_is_destructive() -> None:
    create = {"vmid": 101, "archive": "local:backup/vzdump-qemu-101.vma.zst"}
    assert classify_api("POST", "/nodes/pve1/qemu", create).kind == "write"
    assert classify_api("POST", "/nodes/pve1/qemu", {**create, "force": 1}).impact == "guest-overwrite"


# --- paths the table does not know fail closed ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nodes/pve1/qemu/101/status/../../../../access/acl"),
        ("GET", "/nodes/pve1//qemu"),
        ("GET", "/nodes/pve1/qemu?x=1"),
        ("GET", "/api2/json/nodes"),
        ("GET", "/nodes/pve1/qemu/101/not-a-thing"),
        ("PATCH", "/nodes/pve1/qemu/101/config"),
        ("GET", "nodes/pve1"),
        ("GET", "/nodes/%2E%2E/qemu"),
        ("GET", ""),
    ],
)
def test_an_unknown_or_malformed_path_is_destructive(method: str, path: str) -> None:
    c = classify_api(method, path)
    assert c.kind == "destructive" and not c.known


def test_percent_encoded_letters_cannot_hide_an_endpoint() -> None:
    c = classify_api("POST", "/nodes/pve1/%71emu/101/status/%73top")
    assert c.known and c.impact == "hard-stop"
    facts = inspect_operation(api_op("c1", "POST", "/nodes/pve1/%71emu/101/status/stop"))
    assert facts.path == "/nodes/pve1/qemu/101/status/stop"


def test_repeated_options_keep_every_value() -> None:
    assert classify_cli(["qm", "set", "101", "--delete", "net1", "--delete", "scsi2"]).impact == "disk-detach"


def test_a_qm_create_that_overwrites_is_destructive() -> None:
    assert classify_cli(["qm", "create", "101", "--archive", "local:backup/x.vma", "--force", "1"]).kind == "destructive"
    assert classify_cli(["qm", "create", "101", "--memory", "512"]).kind == "write"


def test_literal_segments_win_over_parameters() -> None:
    assert resolve_template("/nodes/pve1/qemu") == ("/nodes/{node}/qemu", {"node": "pve1"})
    assert resolve_template("/cluster/firewall/options") == ("/cluster/firewall/options", {})
    template, values = resolve_template("/nodes/pve1/storage/local/content/local%3Aiso%2Fa.iso") or ("", {})
    assert template == "/nodes/{node}/storage/{storage}/content/{volume}"
    assert values["volume"] == "local:iso/a.iso"


# --- the CLI table -----------------------------------------------------------------------------------


def test_every_program_the_cli_plane_runs_has_a_table() -> None:
    assert set(ALLOWED_BINARIES) == set(CLI_TABLE)


def test_cli_impacts_are_known() -> None:
    for rows in CLI_TABLE.values():
        for _, kind, impact in rows:
            assert kind in ("read", "write", "destructive", "secret")
            assert not impact or impact in IMPACTS


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["qm", "list"], "read"),
        (["qm", "config", "101"], "read"),
        (["qm", "status", "101", "--verbose", "1"], "read"),
        (["qm", "pending", "101"], "read"),
        (["qm", "showcmd", "101"], "read"),
        (["qm", "listsnapshot", "101"], "read"),
        (["pct", "list"], "read"),
        (["pct", "df", "200"], "read"),
        (["pvesh", "get", "/cluster/resources", "--output-format", "json"], "read"),
        (["pvesh", "ls", "/nodes"], "read"),
        (["pvesm", "status"], "read"),
        (["pvesm", "list", "local"], "read"),
        (["pvesm", "path", "local:iso/a.iso"], "read"),
        (["pveam", "available"], "read"),
        (["pvecm", "status"], "read"),
        (["pvecm", "nodes"], "read"),
        (["ha-manager", "status"], "read"),
        (["pveum", "user", "list"], "read"),
        (["pveum", "acl", "list"], "read"),
        (["ceph", "status"], "read"),
        (["ceph", "-s"], "read"),
        (["ceph", "--format", "json", "osd", "tree"], "read"),
        (["ceph", "health", "detail"], "read"),
        (["pvesm", "prune-backups", "local", "--dry-run", "1"], "read"),
        (["qm", "start", "101"], "write"),
        (["qm", "set", "101", "--memory", "4096"], "write"),
        (["qm", "resize", "101", "scsi0", "+10G"], "write"),
        (["vzdump", "101", "--storage", "local"], "write"),
        (["pvesh", "create", "/nodes/pve1/qemu/101/status/start"], "write"),
        (["pveum", "pool", "add", "dev"], "write"),
        (["ceph", "osd", "set", "noout"], "write"),
        (["qm", "destroy", "101", "--purge", "1"], "destructive"),
        (["qm", "stop", "101"], "destructive"),
        (["qm", "reset", "101"], "destructive"),
        (["qm", "rollback", "101", "snap1"], "destructive"),
        (["qm", "unlink", "101", "--idlist", "scsi1"], "destructive"),
        (["qm", "disk", "unlink", "101", "--idlist", "scsi1"], "destructive"),
        (["qm", "delsnapshot", "101", "snap1"], "destructive"),
        (["qm", "resize", "101", "scsi0", "-1G"], "destructive"),
        (["qm", "set", "101", "--delete", "scsi1"], "destructive"),
        (["qm", "set", "101", "--delete=unused0"], "destructive"),
        (["qm", "guest", "exec", "101", "--", "rm", "-rf", "/"], "destructive"),
        (["qm", "monitor", "101"], "destructive"),
        (["pct", "destroy", "200"], "destructive"),
        (["pct", "stop", "200"], "destructive"),
        (["pct", "rollback", "200", "snap1"], "destructive"),
        (["pct", "delsnapshot", "200", "snap1"], "destructive"),
        (["pct", "exec", "200", "--", "id"], "destructive"),
        (["pct", "enter", "200"], "destructive"),
        (["pvesh", "delete", "/nodes/pve1/qemu/101"], "destructive"),
        (["pvesh", "set", "/access/acl", "--path", "/", "--roles", "Administrator", "--users", "x@pve"], "destructive"),
        (["pvesh", "create", "/nodes/pve1/qemu/101/status/stop"], "destructive"),
        (["pvecm", "delnode", "pve3"], "destructive"),
        (["pvecm", "add", "10.0.0.1"], "destructive"),
        (["pveum", "user", "add", "x@pve"], "destructive"),
        (["pveum", "acl", "modify", "/", "--roles", "Administrator", "--users", "x@pve"], "destructive"),
        (["pveum", "aclmod", "/", "--roles", "Administrator", "--users", "x@pve"], "destructive"),
        (["pveum", "passwd", "root@pam"], "destructive"),
        (["ceph", "osd", "destroy", "3"], "destructive"),
        (["ceph", "osd", "purge", "3", "--yes-i-really-mean-it"], "destructive"),
        (["ceph", "osd", "pool", "delete", "rbd", "rbd", "--yes-i-really-really-mean-it"], "destructive"),
        (["pvesm", "free", "local:vm-101-disk-0"], "destructive"),
        (["pvesm", "prune-backups", "local"], "destructive"),
        (["ha-manager", "crm-command", "stop", "vm:101", "0"], "destructive"),
        (["pvenode", "stopall"], "destructive"),
        (["qm", "frobnicate", "101"], "destructive"),
        (["ceph", "tell", "osd.*", "injectargs", "--foo"], "destructive"),
    ],
)
def test_spot_checks_of_the_cli_classification(argv: list[str], kind: str) -> None:
    assert classify_cli(argv).kind == kind, classify_cli(argv).reason


@pytest.mark.parametrize("argv", [["qm", "cloudinit", "dump", "101", "user"], ["ceph", "auth", "get", "client.admin"],
                                  ["pvenode", "acme", "plugin", "config", "dns1"], ["pvesm", "export", "local:x"]])
def test_cli_commands_that_print_secrets_are_secret_reads(argv: list[str]) -> None:
    c = classify_cli(argv)
    assert c.kind == "read" and c.sensitive


def test_a_program_outside_the_table_is_forbidden() -> None:
    for argv in (["bash", "-c", "id"], ["rm", "-rf", "/"], [], ["/tmp/evil/qm", "list"], ["/usr/sbin/qm", "list"]):
        assert classify_cli(argv).forbidden, argv


# --- the file plane ---------------------------------------------------------------------------------


def test_file_reads_are_reads_and_writes_are_destructive() -> None:
    assert classify_file("/etc/hosts", write=False).kind == "read"
    assert classify_file("/etc/hosts", write=True).kind == "destructive"


@pytest.mark.parametrize(
    "path",
    [
        "/etc/pve/priv/authkey.key",
        "/etc/pve/priv/token.cfg",
        "/etc/pve/local/pve-ssl.key",
        "/etc/pve/nodes/pve1/pveproxy-ssl.key",
        "/etc/shadow",
        "/root/.ssh/id_ed25519",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/corosync/authkey",
        "/etc/ceph/ceph.client.admin.keyring",
        "/etc/pve/../pve/priv/shadow.cfg",
        "/tmp/../etc/shadow",
    ],
)
def test_reading_a_credentials_file_is_a_secret_read(path: str) -> None:
    c = classify_file(path, write=False)
    assert c.sensitive and c.required_mode == "admin", path


def test_public_neighbours_of_secret_files_are_plain_reads() -> None:
    for path in ("/etc/pve/local/pve-ssl.pem", "/etc/ssh/ssh_host_ed25519_key.pub", "/etc/pve/storage.cfg"):
        assert not classify_file(path, write=False).sensitive, path


def test_a_relative_file_path_is_forbidden() -> None:
    assert classify_file("etc/shadow", write=False).forbidden
    assert classify_file("", write=True).forbidden


# --- reading an Operation ------------------------------------------------------------------------


def test_an_api_operation_yields_its_template_node_and_guest() -> None:
    facts = inspect_operation(api_op("c1", "POST", "/nodes/pve2/qemu/105/migrate", {"target": "pve3"}))
    assert facts.template == "/nodes/{node}/qemu/{vmid}/migrate"
    assert facts.nodes == ("pve2", "pve3")
    assert facts.vmids == (105,)


def test_guests_named_in_parameters_and_volumes_are_collected() -> None:
    bulk = inspect_operation(api_op("c1", "POST", "/cluster/bulk-action/guest/shutdown", {"vms": "101,102"}))
    assert bulk.vmids == (101, 102)
    vol = inspect_operation(api_op("c1", "DELETE", "/nodes/pve1/storage/local-lvm/content/local-lvm:vm-130-disk-0"))
    assert vol.vmids == (130,)
    sid = inspect_operation(Operation("c1", "cli", argv=("ha-manager", "crm-command", "stop", "vm:140", "0")))
    assert 140 in sid.vmids


def test_a_qm_command_carries_the_rest_request_it_equals() -> None:
    facts = inspect_operation(Operation("c1", "cli", argv=("qm", "rollback", "101", "snap1"), node="pve1"))
    assert (facts.method, facts.path) == ("POST", "/nodes/pve1/qemu/101/snapshot/snap1/rollback")
    assert facts.template == "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback"
    assert facts.vmids == (101,)


def test_a_clone_names_both_guests() -> None:
    facts = inspect_operation(Operation("c1", "cli", argv=("qm", "clone", "9000", "123", "--name", "x")))
    assert facts.vmids == (9000, 123)


def test_the_tool_can_raise_the_class_but_never_lower_it() -> None:
    # the tool claims read-only, the request says otherwise
    lying = Operation("c1", "api", method="DELETE", path="/nodes/pve1/qemu/101", read_only=True, destructive=False)
    assert inspect_operation(lying).classification.kind == "destructive"
    cautious = api_op("c1", "GET", "/nodes/pve1/qemu/101/config", destructive=True)
    assert inspect_operation(cautious).classification.kind == "destructive"


def test_a_file_operation_is_a_write_when_the_tool_says_so() -> None:
    op = Operation("c1", "file", method="PUT", path="/etc/hosts", node="pve1", read_only=False)
    facts = inspect_operation(op)
    assert facts.classification.kind == "destructive" and facts.file_path == "/etc/hosts"


def test_the_shell_plane_is_always_destructive() -> None:
    op = Operation("c1", "shell", argv=("uptime",), node="pve1", read_only=True)
    assert inspect_operation(op).classification.kind == "destructive"


def test_the_api_table_text_has_one_line_per_endpoint() -> None:
    lines = [line for line in API_TABLE.splitlines() if line.strip()]
    assert len(lines) == 675


def test_pvesh_delete_is_destructive_whatever_it_deletes() -> None:
    assert classify_api("DELETE", "/cluster/backup/job1").kind == "write"
    assert classify_cli(["pvesh", "delete", "/cluster/backup/job1"]).kind == "destructive"


def test_a_cli_operation_by_method_and_path_is_classified_as_its_rest_request() -> None:
    op = Operation("c1", "cli", method="PUT", path="/access/acl", params={"path": "/", "roles": "Administrator"},
                   read_only=False)
    facts = inspect_operation(op)
    assert facts.classification.impact == "acl" and facts.binary == "pvesh" and facts.template == "/access/acl"
    get = inspect_operation(Operation("c1", "cli", method="GET", path="/nodes/pve2/qemu/101/config"))
    assert get.classification.kind == "read" and get.nodes == ("pve2",) and get.vmids == (101,)
    delete = inspect_operation(Operation("c1", "cli", method="DELETE", path="/cluster/backup/j1", read_only=False))
    assert delete.classification.kind == "destructive"


def test_read_only_node_diagnostics_are_reads_and_anything_else_is_forbidden() -> None:
    cli_plane = pytest.importorskip("proxmox_operator_mcp.transports.cli")
    if not hasattr(cli_plane, "NODE_COMMANDS"):
        pytest.skip("this build has no node diagnostics")
    assert classify_cli(["uptime"]).kind == "read"
    assert classify_cli(["journalctl", "-u", "pveproxy", "-n", "50"]).kind == "read"
    assert classify_cli(["journalctl", "--vacuum-size=1M"]).forbidden
    assert classify_cli(["systemctl", "restart", "pveproxy"]).forbidden


def test_the_ssh_host_key_scan_is_a_read_and_installing_our_key_is_destructive() -> None:
    scan = Operation("c1", "shell", method="HOSTKEY-SCAN", node="pve1")
    assert inspect_operation(scan).classification.kind == "read"
    install = Operation("c1", "shell", method="KEY-INSTALL", path="~/.ssh/authorized_keys", node="pve1",
                        read_only=False, destructive=True)
    assert inspect_operation(install).classification.impact == "ssh-key-install"
    smuggled = Operation("c1", "shell", method="HOSTKEY-SCAN", argv=("rm", "-rf", "/"), node="pve1")
    assert inspect_operation(smuggled).classification.kind == "destructive"
