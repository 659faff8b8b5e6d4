"""Built-in classification of every operation: read, write or destructive.

The policy's defaults rest on these tables, reviewed by hand:

* :data:`API_TABLE`: every (method, path template) of the PVE 9.2 API, one line each. A test
  checks that it lists exactly the endpoints of the vendored schema, so a schema update fails
  until someone has classified the new endpoints.
* :data:`CLI_TABLE`: the subcommands of the Proxmox CLI tools the CLI plane may run.
* the shell plane is always destructive; the file plane reads are reads and writes destructive.

A few classes depend on the parameters (a disk ``resize`` to ``+10G`` grows, to ``10G`` or
``-1G`` might shrink; ``delete=scsi1`` in a config update detaches a disk; ``forceStop=1`` turns
a shutdown into a possible hard stop): :func:`classify_api` refines the table for those.
Anything not in the tables is treated as destructive: the classification fails closed.

"Secret" reads are GETs whose answer carries credentials or private data (ACME DNS plugin
keys, cloud-init user data, files read out of a guest or a backup). They are reads, but the
defaults treat them like destructive operations (admin mode and a human confirmation), so
read-only mode cannot be used to exfiltrate them. The schema's own ``expose_credentials`` flag
means something else (the handler receives the caller's credentials to forward them to other
nodes: ``GET /cluster/metrics/export`` and the bulk actions); it does not make a GET secret.

Everything here is pure and imports nothing heavy.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

if TYPE_CHECKING:
    from ..operation import Operation

__all__ = [
    "API_TABLE",
    "CLI_TABLE",
    "IMPACTS",
    "MODES",
    "SECRET_FILES",
    "Classification",
    "CliCommand",
    "Kind",
    "OperationFacts",
    "classify_api",
    "classify_cli",
    "classify_file",
    "endpoint_table",
    "glob_regex",
    "inspect_operation",
    "mode_rank",
    "normalize_api_path",
    "normalize_file_path",
    "parse_cli",
    "resolve_template",
]

Kind = Literal["read", "write", "destructive"]

MODES: tuple[str, ...] = ("read-only", "operator", "admin")
_RANK = {m: i for i, m in enumerate(MODES)}
_KIND_MODE = {"read": "read-only", "write": "operator", "destructive": "admin"}
_KIND_RANK = {"read": 0, "write": 1, "destructive": 2}


def mode_rank(mode: str) -> int:
    """0 for read-only, 1 for operator, 2 for admin.

    Raises:
        ValueError: not an access mode.
    """
    try:
        return _RANK[mode]
    except KeyError:
        raise ValueError(f"unknown access mode {mode!r} (use {', '.join(MODES)})") from None


# What a human is told an operation does, by impact key. ``{target}`` is filled by
# policy.confirm with "VM 101 (web1) on pve1", a path, a node ...
IMPACTS: Mapping[str, str] = MappingProxyType(
    {
        "guest-destroy": "Destroys {target} and its disks: the data is gone",
        "guest-overwrite": "Restores over the existing {target}: its current disks are replaced",
        "remote-migrate-delete": "Migrates {target} to another cluster and deletes the original and its data here",
        "hard-stop": "Hard power-off of {target}: unsaved data in the guest is lost",
        "reset": "Hard reset of {target}: unsaved data in the guest is lost",
        "rollback": "Rolls {target} back to a snapshot: every change since the snapshot is lost",
        "snapshot-delete": "Deletes a snapshot of {target}: it can no longer be rolled back to",
        "disk-unlink": "Detaches or destroys disks of {target}",
        "disk-detach": "Detaches disks from {target} (an unused disk that is removed is destroyed)",
        "disk-shrink": "Resizes a disk of {target} without '+': the size may be smaller than now "
        "(PVE refuses to shrink; a grow is written +SIZE)",
        "template": "Converts {target} into a template: it can no longer be started (irreversible)",
        "console": "Opens an interactive console to {target}: anything can be typed into it",
        "migration-tunnel": "Opens a migration tunnel into {target}: guest data can be written",
        "guest-exec": "Runs a command inside {target} through the guest agent",
        "guest-file-write": "Writes a file inside {target} through the guest agent",
        "guest-file-read": "Reads a file inside {target} through the guest agent: its content leaves the guest",
        "guest-password": "Sets a user's password inside {target}",
        "monitor": "Sends a raw QEMU monitor command to {target}",
        "sendkey": "Sends key strokes to {target}'s console",
        "backup-file-read": "Extracts files from a backup on {target}: their content leaves the backup",
        "credentials": "Returns credentials or private data ({target})",
        "guest-data": "Exports a whole volume's data ({target})",
        "node-shell": "Opens a root shell on {target}",
        "node-execute": "Runs a batch of API calls as one request on {target}",
        "node-power": "Reboots or shuts down {target}: every guest on it goes down",
        "stopall": "Stops or suspends every guest on {target}",
        "bulk-power": "Shuts down or suspends many guests at once ({target})",
        "service-stop": "Stops or restarts a system service on {target}: management or cluster "
        "communication may be interrupted",
        "network-apply": "Applies the pending network configuration of {target}: connectivity may be lost",
        "sdn-apply": "Applies the SDN configuration on every node: guest networking may be interrupted",
        "disk-wipe": "Writes to or erases a physical disk on {target}: its data is gone",
        "ceph-destroy": "Removes a Ceph component or pool ({target}): data or redundancy may be lost",
        "volume-delete": "Deletes a volume or backup ({target}): the data is gone",
        "prune-backups": "Deletes backups by the retention settings ({target})",
        "storage-remove": "Removes the storage definition {target}: guests using it stop working",
        "pool-delete": "Deletes the resource pool {target}",
        "replication-delete": "Removes a replication job ({target}) and, unless kept, the replicated data",
        "cluster-membership": "Changes cluster membership ({target}): quorum and the nodes' configuration change",
        "firewall": "Changes the firewall ({target}): network access to the cluster or guests may be cut",
        "acl": "Changes access control lists: who may do what on the cluster changes",
        "user": "Changes user accounts ({target})",
        "token": "Creates, changes or removes an API token ({target})",
        "role": "Changes roles: the privileges behind every ACL using them change",
        "group": "Changes groups ({target}): the permissions of their members change",
        "realm": "Changes authentication realms ({target}): who can log in changes",
        "tfa": "Changes two-factor authentication ({target})",
        "password": "Changes a password ({target})",
        "ticket": "Issues an authentication ticket: a credential",
        "acme-account": "Deactivates an ACME account ({target})",
        "certificate": "Changes the TLS certificate of {target}: clients that pin the old one lose access",
        "shell": "Runs a shell command as root on {target}",
        "ssh-key-install": "Installs this server's SSH key on {target}: it can then run commands there as that user",
        "file-write": "Writes the file {target}",
        "file-secret": "Reads {target}, which holds credentials",
        "unknown-endpoint": "{target} is not in the reviewed endpoint table: treated as destructive",
        "unknown-command": "{target} is not in the reviewed command table: treated as destructive",
    }
)

# One line per endpoint of the PVE 9.2 API: METHOD PATH CLASS [IMPACT]. CLASS is read, write,
# destructive or secret (a read whose answer holds credentials or private data).
# Reviewed by hand; tests/policy/test_classify.py keeps it equal to the vendored schema.
API_TABLE = """
GET    /access                                                      read
GET    /access/acl                                                  read
PUT    /access/acl                                                  destructive acl
GET    /access/domains                                              read
POST   /access/domains                                              destructive realm
GET    /access/domains/{realm}                                      secret      credentials
PUT    /access/domains/{realm}                                      destructive realm
DELETE /access/domains/{realm}                                      destructive realm
POST   /access/domains/{realm}/sync                                 destructive realm
GET    /access/groups                                               read
POST   /access/groups                                               destructive group
GET    /access/groups/{groupid}                                     read
PUT    /access/groups/{groupid}                                     destructive group
DELETE /access/groups/{groupid}                                     destructive group
GET    /access/openid                                               read
POST   /access/openid/auth-url                                      write
POST   /access/openid/login                                         destructive ticket
PUT    /access/password                                             destructive password
GET    /access/permissions                                          read
GET    /access/roles                                                read
POST   /access/roles                                                destructive role
GET    /access/roles/{roleid}                                       read
PUT    /access/roles/{roleid}                                       destructive role
DELETE /access/roles/{roleid}                                       destructive role
GET    /access/tfa                                                  read
GET    /access/tfa/{userid}                                         read
POST   /access/tfa/{userid}                                         destructive tfa
GET    /access/tfa/{userid}/{id}                                    read
PUT    /access/tfa/{userid}/{id}                                    destructive tfa
DELETE /access/tfa/{userid}/{id}                                    destructive tfa
GET    /access/ticket                                               read
POST   /access/ticket                                               destructive ticket
GET    /access/users                                                read
POST   /access/users                                                destructive user
GET    /access/users/{userid}                                       read
PUT    /access/users/{userid}                                       destructive user
DELETE /access/users/{userid}                                       destructive user
GET    /access/users/{userid}/tfa                                   read
GET    /access/users/{userid}/token                                 read
GET    /access/users/{userid}/token/{tokenid}                       read
POST   /access/users/{userid}/token/{tokenid}                       destructive token
PUT    /access/users/{userid}/token/{tokenid}                       destructive token
DELETE /access/users/{userid}/token/{tokenid}                       destructive token
PUT    /access/users/{userid}/unlock-tfa                            destructive user
POST   /access/vncticket                                            write
GET    /cluster                                                     read
GET    /cluster/acme                                                read
GET    /cluster/acme/account                                        read
POST   /cluster/acme/account                                        write
GET    /cluster/acme/account/{name}                                 read
PUT    /cluster/acme/account/{name}                                 write
DELETE /cluster/acme/account/{name}                                 destructive acme-account
GET    /cluster/acme/challenge-schema                               read
GET    /cluster/acme/directories                                    read
GET    /cluster/acme/meta                                           read
GET    /cluster/acme/plugins                                        secret      credentials
POST   /cluster/acme/plugins                                        write
GET    /cluster/acme/plugins/{id}                                   secret      credentials
PUT    /cluster/acme/plugins/{id}                                   write
DELETE /cluster/acme/plugins/{id}                                   write
GET    /cluster/acme/tos                                            read
GET    /cluster/backup                                              read
POST   /cluster/backup                                              write
GET    /cluster/backup-info                                         read
GET    /cluster/backup-info/not-backed-up                           read
GET    /cluster/backup/{id}                                         read
PUT    /cluster/backup/{id}                                         write
DELETE /cluster/backup/{id}                                         write
GET    /cluster/backup/{id}/included_volumes                        read
GET    /cluster/bulk-action                                         read
GET    /cluster/bulk-action/guest                                   read
POST   /cluster/bulk-action/guest/migrate                           write
POST   /cluster/bulk-action/guest/shutdown                          destructive bulk-power
POST   /cluster/bulk-action/guest/start                             write
POST   /cluster/bulk-action/guest/suspend                           destructive bulk-power
GET    /cluster/ceph                                                read
GET    /cluster/ceph/flags                                          read
PUT    /cluster/ceph/flags                                          write
GET    /cluster/ceph/flags/{flag}                                   read
PUT    /cluster/ceph/flags/{flag}                                   write
GET    /cluster/ceph/metadata                                       read
GET    /cluster/ceph/status                                         read
GET    /cluster/config                                              read
POST   /cluster/config                                              destructive cluster-membership
GET    /cluster/config/apiversion                                   read
GET    /cluster/config/join                                         read
POST   /cluster/config/join                                         destructive cluster-membership
GET    /cluster/config/nodes                                        read
POST   /cluster/config/nodes/{node}                                 destructive cluster-membership
DELETE /cluster/config/nodes/{node}                                 destructive cluster-membership
GET    /cluster/config/qdevice                                      read
GET    /cluster/config/totem                                        read
GET    /cluster/firewall                                            read
GET    /cluster/firewall/aliases                                    read
POST   /cluster/firewall/aliases                                    destructive firewall
GET    /cluster/firewall/aliases/{name}                             read
PUT    /cluster/firewall/aliases/{name}                             destructive firewall
DELETE /cluster/firewall/aliases/{name}                             destructive firewall
GET    /cluster/firewall/groups                                     read
POST   /cluster/firewall/groups                                     destructive firewall
GET    /cluster/firewall/groups/{group}                             read
POST   /cluster/firewall/groups/{group}                             destructive firewall
DELETE /cluster/firewall/groups/{group}                             destructive firewall
GET    /cluster/firewall/groups/{group}/{pos}                       read
PUT    /cluster/firewall/groups/{group}/{pos}                       destructive firewall
DELETE /cluster/firewall/groups/{group}/{pos}                       destructive firewall
GET    /cluster/firewall/ipset                                      read
POST   /cluster/firewall/ipset                                      destructive firewall
GET    /cluster/firewall/ipset/{name}                               read
POST   /cluster/firewall/ipset/{name}                               destructive firewall
DELETE /cluster/firewall/ipset/{name}                               destructive firewall
GET    /cluster/firewall/ipset/{name}/{cidr}                        read
PUT    /cluster/firewall/ipset/{name}/{cidr}                        destructive firewall
DELETE /cluster/firewall/ipset/{name}/{cidr}                        destructive firewall
GET    /cluster/firewall/macros                                     read
GET    /cluster/firewall/options                                    read
PUT    /cluster/firewall/options                                    destructive firewall
GET    /cluster/firewall/refs                                       read
GET    /cluster/firewall/rules                                      read
POST   /cluster/firewall/rules                                      destructive firewall
GET    /cluster/firewall/rules/{pos}                                read
PUT    /cluster/firewall/rules/{pos}                                destructive firewall
DELETE /cluster/firewall/rules/{pos}                                destructive firewall
GET    /cluster/ha                                                  read
GET    /cluster/ha/groups                                           read
POST   /cluster/ha/groups                                           write
GET    /cluster/ha/groups/{group}                                   read
PUT    /cluster/ha/groups/{group}                                   write
DELETE /cluster/ha/groups/{group}                                   write
GET    /cluster/ha/resources                                        read
POST   /cluster/ha/resources                                        write
GET    /cluster/ha/resources/{sid}                                  read
PUT    /cluster/ha/resources/{sid}                                  write
DELETE /cluster/ha/resources/{sid}                                  write
POST   /cluster/ha/resources/{sid}/migrate                          write
POST   /cluster/ha/resources/{sid}/relocate                         write
GET    /cluster/ha/rules                                            read
POST   /cluster/ha/rules                                            write
GET    /cluster/ha/rules/{rule}                                     read
PUT    /cluster/ha/rules/{rule}                                     write
DELETE /cluster/ha/rules/{rule}                                     write
GET    /cluster/ha/status                                           read
POST   /cluster/ha/status/arm-ha                                    write
GET    /cluster/ha/status/current                                   read
POST   /cluster/ha/status/disarm-ha                                 write
GET    /cluster/ha/status/manager_status                            read
GET    /cluster/jobs                                                read
GET    /cluster/jobs/realm-sync                                     read
GET    /cluster/jobs/realm-sync/{id}                                read
POST   /cluster/jobs/realm-sync/{id}                                destructive realm
PUT    /cluster/jobs/realm-sync/{id}                                destructive realm
DELETE /cluster/jobs/realm-sync/{id}                                write
GET    /cluster/jobs/schedule-analyze                               read
GET    /cluster/log                                                 read
GET    /cluster/mapping                                             read
GET    /cluster/mapping/dir                                         read
POST   /cluster/mapping/dir                                         write
GET    /cluster/mapping/dir/{id}                                    read
PUT    /cluster/mapping/dir/{id}                                    write
DELETE /cluster/mapping/dir/{id}                                    write
GET    /cluster/mapping/pci                                         read
POST   /cluster/mapping/pci                                         write
GET    /cluster/mapping/pci/{id}                                    read
PUT    /cluster/mapping/pci/{id}                                    write
DELETE /cluster/mapping/pci/{id}                                    write
GET    /cluster/mapping/usb                                         read
POST   /cluster/mapping/usb                                         write
GET    /cluster/mapping/usb/{id}                                    read
PUT    /cluster/mapping/usb/{id}                                    write
DELETE /cluster/mapping/usb/{id}                                    write
GET    /cluster/metrics                                             read
GET    /cluster/metrics/export                                      read
GET    /cluster/metrics/server                                      read
GET    /cluster/metrics/server/{id}                                 read
POST   /cluster/metrics/server/{id}                                 write
PUT    /cluster/metrics/server/{id}                                 write
DELETE /cluster/metrics/server/{id}                                 write
GET    /cluster/nextid                                              read
GET    /cluster/notifications                                       read
GET    /cluster/notifications/endpoints                             read
GET    /cluster/notifications/endpoints/gotify                      read
POST   /cluster/notifications/endpoints/gotify                      write
GET    /cluster/notifications/endpoints/gotify/{name}               read
PUT    /cluster/notifications/endpoints/gotify/{name}               write
DELETE /cluster/notifications/endpoints/gotify/{name}               write
GET    /cluster/notifications/endpoints/sendmail                    read
POST   /cluster/notifications/endpoints/sendmail                    write
GET    /cluster/notifications/endpoints/sendmail/{name}             read
PUT    /cluster/notifications/endpoints/sendmail/{name}             write
DELETE /cluster/notifications/endpoints/sendmail/{name}             write
GET    /cluster/notifications/endpoints/smtp                        read
POST   /cluster/notifications/endpoints/smtp                        write
GET    /cluster/notifications/endpoints/smtp/{name}                 read
PUT    /cluster/notifications/endpoints/smtp/{name}                 write
DELETE /cluster/notifications/endpoints/smtp/{name}                 write
GET    /cluster/notifications/endpoints/webhook                     read
POST   /cluster/notifications/endpoints/webhook                     write
GET    /cluster/notifications/endpoints/webhook/{name}              read
PUT    /cluster/notifications/endpoints/webhook/{name}              write
DELETE /cluster/notifications/endpoints/webhook/{name}              write
GET    /cluster/notifications/matcher-field-values                  read
GET    /cluster/notifications/matcher-fields                        read
GET    /cluster/notifications/matchers                              read
POST   /cluster/notifications/matchers                              write
GET    /cluster/notifications/matchers/{name}                       read
PUT    /cluster/notifications/matchers/{name}                       write
DELETE /cluster/notifications/matchers/{name}                       write
GET    /cluster/notifications/targets                               read
POST   /cluster/notifications/targets/{name}/test                   write
GET    /cluster/options                                             read
PUT    /cluster/options                                             write
GET    /cluster/qemu                                                read
GET    /cluster/qemu/cpu-flags                                      read
GET    /cluster/qemu/custom-cpu-models                              read
POST   /cluster/qemu/custom-cpu-models                              write
GET    /cluster/qemu/custom-cpu-models/{cputype}                    read
PUT    /cluster/qemu/custom-cpu-models/{cputype}                    write
DELETE /cluster/qemu/custom-cpu-models/{cputype}                    write
GET    /cluster/replication                                         read
POST   /cluster/replication                                         write
GET    /cluster/replication/{id}                                    read
PUT    /cluster/replication/{id}                                    write
DELETE /cluster/replication/{id}                                    destructive replication-delete
GET    /cluster/resources                                           read
GET    /cluster/sdn                                                 read
PUT    /cluster/sdn                                                 destructive sdn-apply
GET    /cluster/sdn/controllers                                     read
POST   /cluster/sdn/controllers                                     write
GET    /cluster/sdn/controllers/{controller}                        read
PUT    /cluster/sdn/controllers/{controller}                        write
DELETE /cluster/sdn/controllers/{controller}                        write
GET    /cluster/sdn/dns                                             read
POST   /cluster/sdn/dns                                             write
GET    /cluster/sdn/dns/{dns}                                       read
PUT    /cluster/sdn/dns/{dns}                                       write
DELETE /cluster/sdn/dns/{dns}                                       write
GET    /cluster/sdn/dry-run                                         read
GET    /cluster/sdn/fabrics                                         read
GET    /cluster/sdn/fabrics/all                                     read
GET    /cluster/sdn/fabrics/fabric                                  read
POST   /cluster/sdn/fabrics/fabric                                  write
GET    /cluster/sdn/fabrics/fabric/{id}                             read
PUT    /cluster/sdn/fabrics/fabric/{id}                             write
DELETE /cluster/sdn/fabrics/fabric/{id}                             write
GET    /cluster/sdn/fabrics/node                                    read
GET    /cluster/sdn/fabrics/node/{fabric_id}                        read
POST   /cluster/sdn/fabrics/node/{fabric_id}                        write
GET    /cluster/sdn/fabrics/node/{fabric_id}/{node_id}              read
PUT    /cluster/sdn/fabrics/node/{fabric_id}/{node_id}              write
DELETE /cluster/sdn/fabrics/node/{fabric_id}/{node_id}              write
GET    /cluster/sdn/ipams                                           read
POST   /cluster/sdn/ipams                                           write
GET    /cluster/sdn/ipams/{ipam}                                    read
PUT    /cluster/sdn/ipams/{ipam}                                    write
DELETE /cluster/sdn/ipams/{ipam}                                    write
GET    /cluster/sdn/ipams/{ipam}/status                             read
POST   /cluster/sdn/lock                                            write
DELETE /cluster/sdn/lock                                            write
GET    /cluster/sdn/prefix-lists                                    read
POST   /cluster/sdn/prefix-lists                                    write
GET    /cluster/sdn/prefix-lists/{id}                               read
PUT    /cluster/sdn/prefix-lists/{id}                               write
DELETE /cluster/sdn/prefix-lists/{id}                               write
GET    /cluster/sdn/prefix-lists/{id}/entries                       read
POST   /cluster/sdn/prefix-lists/{id}/entries                       write
GET    /cluster/sdn/prefix-lists/{id}/entries/{url_seq}             read
PUT    /cluster/sdn/prefix-lists/{id}/entries/{url_seq}             write
DELETE /cluster/sdn/prefix-lists/{id}/entries/{url_seq}             write
POST   /cluster/sdn/rollback                                        write
GET    /cluster/sdn/route-maps                                      read
GET    /cluster/sdn/route-maps/entries                              read
POST   /cluster/sdn/route-maps/entries                              write
GET    /cluster/sdn/route-maps/entries/{route-map-id}               read
GET    /cluster/sdn/route-maps/entries/{route-map-id}/entry/{order} read
PUT    /cluster/sdn/route-maps/entries/{route-map-id}/entry/{order} write
DELETE /cluster/sdn/route-maps/entries/{route-map-id}/entry/{order} write
GET    /cluster/sdn/vnets                                           read
POST   /cluster/sdn/vnets                                           write
GET    /cluster/sdn/vnets/{vnet}                                    read
PUT    /cluster/sdn/vnets/{vnet}                                    write
DELETE /cluster/sdn/vnets/{vnet}                                    write
GET    /cluster/sdn/vnets/{vnet}/firewall                           read
GET    /cluster/sdn/vnets/{vnet}/firewall/options                   read
PUT    /cluster/sdn/vnets/{vnet}/firewall/options                   destructive firewall
GET    /cluster/sdn/vnets/{vnet}/firewall/rules                     read
POST   /cluster/sdn/vnets/{vnet}/firewall/rules                     destructive firewall
GET    /cluster/sdn/vnets/{vnet}/firewall/rules/{pos}               read
PUT    /cluster/sdn/vnets/{vnet}/firewall/rules/{pos}               destructive firewall
DELETE /cluster/sdn/vnets/{vnet}/firewall/rules/{pos}               destructive firewall
POST   /cluster/sdn/vnets/{vnet}/ips                                write
PUT    /cluster/sdn/vnets/{vnet}/ips                                write
DELETE /cluster/sdn/vnets/{vnet}/ips                                write
GET    /cluster/sdn/vnets/{vnet}/subnets                            read
POST   /cluster/sdn/vnets/{vnet}/subnets                            write
GET    /cluster/sdn/vnets/{vnet}/subnets/{subnet}                   read
PUT    /cluster/sdn/vnets/{vnet}/subnets/{subnet}                   write
DELETE /cluster/sdn/vnets/{vnet}/subnets/{subnet}                   write
GET    /cluster/sdn/zones                                           read
POST   /cluster/sdn/zones                                           write
GET    /cluster/sdn/zones/{zone}                                    read
PUT    /cluster/sdn/zones/{zone}                                    write
DELETE /cluster/sdn/zones/{zone}                                    write
GET    /cluster/status                                              read
GET    /cluster/tasks                                               read
GET    /nodes                                                       read
GET    /nodes/{node}                                                read
GET    /nodes/{node}/aplinfo                                        read
POST   /nodes/{node}/aplinfo                                        write
GET    /nodes/{node}/apt                                            read
GET    /nodes/{node}/apt/changelog                                  read
GET    /nodes/{node}/apt/repositories                               read
POST   /nodes/{node}/apt/repositories                               write
PUT    /nodes/{node}/apt/repositories                               write
GET    /nodes/{node}/apt/update                                     read
POST   /nodes/{node}/apt/update                                     write
GET    /nodes/{node}/apt/versions                                   read
GET    /nodes/{node}/capabilities                                   read
GET    /nodes/{node}/capabilities/qemu                              read
GET    /nodes/{node}/capabilities/qemu/cpu                          read
GET    /nodes/{node}/capabilities/qemu/cpu-flags                    read
GET    /nodes/{node}/capabilities/qemu/machines                     read
GET    /nodes/{node}/capabilities/qemu/migration                    read
GET    /nodes/{node}/ceph                                           read
GET    /nodes/{node}/ceph/cfg                                       read
GET    /nodes/{node}/ceph/cfg/db                                    read
GET    /nodes/{node}/ceph/cfg/raw                                   read
GET    /nodes/{node}/ceph/cfg/value                                 read
GET    /nodes/{node}/ceph/cmd-safety                                read
GET    /nodes/{node}/ceph/crush                                     read
GET    /nodes/{node}/ceph/fs                                        read
POST   /nodes/{node}/ceph/fs/{name}                                 write
DELETE /nodes/{node}/ceph/fs/{name}                                 destructive ceph-destroy
POST   /nodes/{node}/ceph/init                                      write
GET    /nodes/{node}/ceph/log                                       read
GET    /nodes/{node}/ceph/mds                                       read
POST   /nodes/{node}/ceph/mds/{name}                                write
DELETE /nodes/{node}/ceph/mds/{name}                                destructive ceph-destroy
GET    /nodes/{node}/ceph/mgr                                       read
POST   /nodes/{node}/ceph/mgr/{id}                                  write
DELETE /nodes/{node}/ceph/mgr/{id}                                  destructive ceph-destroy
GET    /nodes/{node}/ceph/mon                                       read
POST   /nodes/{node}/ceph/mon/{monid}                               write
DELETE /nodes/{node}/ceph/mon/{monid}                               destructive ceph-destroy
GET    /nodes/{node}/ceph/osd                                       read
POST   /nodes/{node}/ceph/osd                                       destructive disk-wipe
GET    /nodes/{node}/ceph/osd/{osdid}                               read
DELETE /nodes/{node}/ceph/osd/{osdid}                               destructive ceph-destroy
POST   /nodes/{node}/ceph/osd/{osdid}/in                            write
GET    /nodes/{node}/ceph/osd/{osdid}/lv-info                       read
GET    /nodes/{node}/ceph/osd/{osdid}/metadata                      read
POST   /nodes/{node}/ceph/osd/{osdid}/out                           write
POST   /nodes/{node}/ceph/osd/{osdid}/scrub                         write
GET    /nodes/{node}/ceph/pool                                      read
POST   /nodes/{node}/ceph/pool                                      write
GET    /nodes/{node}/ceph/pool/{name}                               read
PUT    /nodes/{node}/ceph/pool/{name}                               write
DELETE /nodes/{node}/ceph/pool/{name}                               destructive ceph-destroy
GET    /nodes/{node}/ceph/pool/{name}/status                        read
POST   /nodes/{node}/ceph/restart                                   destructive service-stop
GET    /nodes/{node}/ceph/rules                                     read
POST   /nodes/{node}/ceph/start                                     write
GET    /nodes/{node}/ceph/status                                    read
POST   /nodes/{node}/ceph/stop                                      destructive service-stop
GET    /nodes/{node}/certificates                                   read
GET    /nodes/{node}/certificates/acme                              read
POST   /nodes/{node}/certificates/acme/certificate                  destructive certificate
PUT    /nodes/{node}/certificates/acme/certificate                  destructive certificate
DELETE /nodes/{node}/certificates/acme/certificate                  destructive certificate
POST   /nodes/{node}/certificates/custom                            destructive certificate
DELETE /nodes/{node}/certificates/custom                            destructive certificate
GET    /nodes/{node}/certificates/info                              read
GET    /nodes/{node}/config                                         read
PUT    /nodes/{node}/config                                         write
GET    /nodes/{node}/disks                                          read
GET    /nodes/{node}/disks/directory                                read
POST   /nodes/{node}/disks/directory                                destructive disk-wipe
DELETE /nodes/{node}/disks/directory/{name}                         destructive disk-wipe
POST   /nodes/{node}/disks/initgpt                                  destructive disk-wipe
GET    /nodes/{node}/disks/list                                     read
GET    /nodes/{node}/disks/lvm                                      read
POST   /nodes/{node}/disks/lvm                                      destructive disk-wipe
DELETE /nodes/{node}/disks/lvm/{name}                               destructive disk-wipe
GET    /nodes/{node}/disks/lvmthin                                  read
POST   /nodes/{node}/disks/lvmthin                                  destructive disk-wipe
DELETE /nodes/{node}/disks/lvmthin/{name}                           destructive disk-wipe
GET    /nodes/{node}/disks/smart                                    read
PUT    /nodes/{node}/disks/wipedisk                                 destructive disk-wipe
GET    /nodes/{node}/disks/zfs                                      read
POST   /nodes/{node}/disks/zfs                                      destructive disk-wipe
GET    /nodes/{node}/disks/zfs/{name}                               read
DELETE /nodes/{node}/disks/zfs/{name}                               destructive disk-wipe
GET    /nodes/{node}/dns                                            read
PUT    /nodes/{node}/dns                                            write
POST   /nodes/{node}/execute                                        destructive node-execute
GET    /nodes/{node}/firewall                                       read
GET    /nodes/{node}/firewall/log                                   read
GET    /nodes/{node}/firewall/options                               read
PUT    /nodes/{node}/firewall/options                               destructive firewall
GET    /nodes/{node}/firewall/rules                                 read
POST   /nodes/{node}/firewall/rules                                 destructive firewall
GET    /nodes/{node}/firewall/rules/{pos}                           read
PUT    /nodes/{node}/firewall/rules/{pos}                           destructive firewall
DELETE /nodes/{node}/firewall/rules/{pos}                           destructive firewall
GET    /nodes/{node}/hardware                                       read
GET    /nodes/{node}/hardware/pci                                   read
GET    /nodes/{node}/hardware/pci/{pci-id-or-mapping}               read
GET    /nodes/{node}/hardware/pci/{pci-id-or-mapping}/mdev          read
GET    /nodes/{node}/hardware/usb                                   read
GET    /nodes/{node}/hosts                                          read
POST   /nodes/{node}/hosts                                          write
GET    /nodes/{node}/journal                                        read
GET    /nodes/{node}/lxc                                            read
POST   /nodes/{node}/lxc                                            write
GET    /nodes/{node}/lxc/{vmid}                                     read
DELETE /nodes/{node}/lxc/{vmid}                                     destructive guest-destroy
POST   /nodes/{node}/lxc/{vmid}/clone                               write
GET    /nodes/{node}/lxc/{vmid}/config                              read
PUT    /nodes/{node}/lxc/{vmid}/config                              write
GET    /nodes/{node}/lxc/{vmid}/feature                             read
GET    /nodes/{node}/lxc/{vmid}/firewall                            read
GET    /nodes/{node}/lxc/{vmid}/firewall/aliases                    read
POST   /nodes/{node}/lxc/{vmid}/firewall/aliases                    destructive firewall
GET    /nodes/{node}/lxc/{vmid}/firewall/aliases/{name}             read
PUT    /nodes/{node}/lxc/{vmid}/firewall/aliases/{name}             destructive firewall
DELETE /nodes/{node}/lxc/{vmid}/firewall/aliases/{name}             destructive firewall
GET    /nodes/{node}/lxc/{vmid}/firewall/ipset                      read
POST   /nodes/{node}/lxc/{vmid}/firewall/ipset                      destructive firewall
GET    /nodes/{node}/lxc/{vmid}/firewall/ipset/{name}               read
POST   /nodes/{node}/lxc/{vmid}/firewall/ipset/{name}               destructive firewall
DELETE /nodes/{node}/lxc/{vmid}/firewall/ipset/{name}               destructive firewall
GET    /nodes/{node}/lxc/{vmid}/firewall/ipset/{name}/{cidr}        read
PUT    /nodes/{node}/lxc/{vmid}/firewall/ipset/{name}/{cidr}        destructive firewall
DELETE /nodes/{node}/lxc/{vmid}/firewall/ipset/{name}/{cidr}        destructive firewall
GET    /nodes/{node}/lxc/{vmid}/firewall/log                        read
GET    /nodes/{node}/lxc/{vmid}/firewall/options                    read
PUT    /nodes/{node}/lxc/{vmid}/firewall/options                    destructive firewall
GET    /nodes/{node}/lxc/{vmid}/firewall/refs                       read
GET    /nodes/{node}/lxc/{vmid}/firewall/rules                      read
POST   /nodes/{node}/lxc/{vmid}/firewall/rules                      destructive firewall
GET    /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}                read
PUT    /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}                destructive firewall
DELETE /nodes/{node}/lxc/{vmid}/firewall/rules/{pos}                destructive firewall
GET    /nodes/{node}/lxc/{vmid}/interfaces                          read
GET    /nodes/{node}/lxc/{vmid}/migrate                             read
POST   /nodes/{node}/lxc/{vmid}/migrate                             write
POST   /nodes/{node}/lxc/{vmid}/move_volume                         write
POST   /nodes/{node}/lxc/{vmid}/mtunnel                             destructive migration-tunnel
GET    /nodes/{node}/lxc/{vmid}/mtunnelwebsocket                    destructive migration-tunnel
GET    /nodes/{node}/lxc/{vmid}/pending                             read
POST   /nodes/{node}/lxc/{vmid}/remote_migrate                      write
PUT    /nodes/{node}/lxc/{vmid}/resize                              write
GET    /nodes/{node}/lxc/{vmid}/rrd                                 read
GET    /nodes/{node}/lxc/{vmid}/rrddata                             read
GET    /nodes/{node}/lxc/{vmid}/snapshot                            read
POST   /nodes/{node}/lxc/{vmid}/snapshot                            write
GET    /nodes/{node}/lxc/{vmid}/snapshot/{snapname}                 read
DELETE /nodes/{node}/lxc/{vmid}/snapshot/{snapname}                 destructive snapshot-delete
GET    /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config          read
PUT    /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/config          write
POST   /nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback        destructive rollback
POST   /nodes/{node}/lxc/{vmid}/spiceproxy                          destructive console
GET    /nodes/{node}/lxc/{vmid}/status                              read
GET    /nodes/{node}/lxc/{vmid}/status/current                      read
POST   /nodes/{node}/lxc/{vmid}/status/reboot                       write
POST   /nodes/{node}/lxc/{vmid}/status/resume                       write
POST   /nodes/{node}/lxc/{vmid}/status/shutdown                     write
POST   /nodes/{node}/lxc/{vmid}/status/start                        write
POST   /nodes/{node}/lxc/{vmid}/status/stop                         destructive hard-stop
POST   /nodes/{node}/lxc/{vmid}/status/suspend                      write
POST   /nodes/{node}/lxc/{vmid}/template                            destructive template
POST   /nodes/{node}/lxc/{vmid}/termproxy                           destructive console
POST   /nodes/{node}/lxc/{vmid}/vncproxy                            destructive console
GET    /nodes/{node}/lxc/{vmid}/vncwebsocket                        destructive console
POST   /nodes/{node}/migrateall                                     write
GET    /nodes/{node}/netstat                                        read
GET    /nodes/{node}/network                                        read
POST   /nodes/{node}/network                                        write
PUT    /nodes/{node}/network                                        destructive network-apply
DELETE /nodes/{node}/network                                        write
GET    /nodes/{node}/network/{iface}                                read
PUT    /nodes/{node}/network/{iface}                                write
DELETE /nodes/{node}/network/{iface}                                write
GET    /nodes/{node}/qemu                                           read
POST   /nodes/{node}/qemu                                           write
GET    /nodes/{node}/qemu/{vmid}                                    read
DELETE /nodes/{node}/qemu/{vmid}                                    destructive guest-destroy
GET    /nodes/{node}/qemu/{vmid}/agent                              read
POST   /nodes/{node}/qemu/{vmid}/agent                              write
POST   /nodes/{node}/qemu/{vmid}/agent/exec                         destructive guest-exec
GET    /nodes/{node}/qemu/{vmid}/agent/exec-status                  read
GET    /nodes/{node}/qemu/{vmid}/agent/file-read                    secret      guest-file-read
POST   /nodes/{node}/qemu/{vmid}/agent/file-write                   destructive guest-file-write
POST   /nodes/{node}/qemu/{vmid}/agent/fsfreeze-freeze              write
POST   /nodes/{node}/qemu/{vmid}/agent/fsfreeze-status              write
POST   /nodes/{node}/qemu/{vmid}/agent/fsfreeze-thaw                write
POST   /nodes/{node}/qemu/{vmid}/agent/fstrim                       write
GET    /nodes/{node}/qemu/{vmid}/agent/get-fsinfo                   read
GET    /nodes/{node}/qemu/{vmid}/agent/get-host-name                read
GET    /nodes/{node}/qemu/{vmid}/agent/get-memory-block-info        read
GET    /nodes/{node}/qemu/{vmid}/agent/get-memory-blocks            read
GET    /nodes/{node}/qemu/{vmid}/agent/get-osinfo                   read
GET    /nodes/{node}/qemu/{vmid}/agent/get-time                     read
GET    /nodes/{node}/qemu/{vmid}/agent/get-timezone                 read
GET    /nodes/{node}/qemu/{vmid}/agent/get-users                    read
GET    /nodes/{node}/qemu/{vmid}/agent/get-vcpus                    read
GET    /nodes/{node}/qemu/{vmid}/agent/info                         read
GET    /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces       read
POST   /nodes/{node}/qemu/{vmid}/agent/ping                         write
POST   /nodes/{node}/qemu/{vmid}/agent/set-user-password            destructive guest-password
POST   /nodes/{node}/qemu/{vmid}/agent/shutdown                     write
POST   /nodes/{node}/qemu/{vmid}/agent/suspend-disk                 write
POST   /nodes/{node}/qemu/{vmid}/agent/suspend-hybrid               write
POST   /nodes/{node}/qemu/{vmid}/agent/suspend-ram                  write
POST   /nodes/{node}/qemu/{vmid}/clone                              write
GET    /nodes/{node}/qemu/{vmid}/cloudinit                          read
PUT    /nodes/{node}/qemu/{vmid}/cloudinit                          write
GET    /nodes/{node}/qemu/{vmid}/cloudinit/dump                     secret      credentials
GET    /nodes/{node}/qemu/{vmid}/config                             read
POST   /nodes/{node}/qemu/{vmid}/config                             write
PUT    /nodes/{node}/qemu/{vmid}/config                             write
POST   /nodes/{node}/qemu/{vmid}/dbus-vmstate                       write
GET    /nodes/{node}/qemu/{vmid}/feature                            read
GET    /nodes/{node}/qemu/{vmid}/firewall                           read
GET    /nodes/{node}/qemu/{vmid}/firewall/aliases                   read
POST   /nodes/{node}/qemu/{vmid}/firewall/aliases                   destructive firewall
GET    /nodes/{node}/qemu/{vmid}/firewall/aliases/{name}            read
PUT    /nodes/{node}/qemu/{vmid}/firewall/aliases/{name}            destructive firewall
DELETE /nodes/{node}/qemu/{vmid}/firewall/aliases/{name}            destructive firewall
GET    /nodes/{node}/qemu/{vmid}/firewall/ipset                     read
POST   /nodes/{node}/qemu/{vmid}/firewall/ipset                     destructive firewall
GET    /nodes/{node}/qemu/{vmid}/firewall/ipset/{name}              read
POST   /nodes/{node}/qemu/{vmid}/firewall/ipset/{name}              destructive firewall
DELETE /nodes/{node}/qemu/{vmid}/firewall/ipset/{name}              destructive firewall
GET    /nodes/{node}/qemu/{vmid}/firewall/ipset/{name}/{cidr}       read
PUT    /nodes/{node}/qemu/{vmid}/firewall/ipset/{name}/{cidr}       destructive firewall
DELETE /nodes/{node}/qemu/{vmid}/firewall/ipset/{name}/{cidr}       destructive firewall
GET    /nodes/{node}/qemu/{vmid}/firewall/log                       read
GET    /nodes/{node}/qemu/{vmid}/firewall/options                   read
PUT    /nodes/{node}/qemu/{vmid}/firewall/options                   destructive firewall
GET    /nodes/{node}/qemu/{vmid}/firewall/refs                      read
GET    /nodes/{node}/qemu/{vmid}/firewall/rules                     read
POST   /nodes/{node}/qemu/{vmid}/firewall/rules                     destructive firewall
GET    /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}               read
PUT    /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}               destructive firewall
DELETE /nodes/{node}/qemu/{vmid}/firewall/rules/{pos}               destructive firewall
GET    /nodes/{node}/qemu/{vmid}/migrate                            read
POST   /nodes/{node}/qemu/{vmid}/migrate                            write
POST   /nodes/{node}/qemu/{vmid}/monitor                            destructive monitor
POST   /nodes/{node}/qemu/{vmid}/move_disk                          write
POST   /nodes/{node}/qemu/{vmid}/mtunnel                            destructive migration-tunnel
GET    /nodes/{node}/qemu/{vmid}/mtunnelwebsocket                   destructive migration-tunnel
GET    /nodes/{node}/qemu/{vmid}/pending                            read
POST   /nodes/{node}/qemu/{vmid}/remote_migrate                     write
PUT    /nodes/{node}/qemu/{vmid}/resize                             write
GET    /nodes/{node}/qemu/{vmid}/rrd                                read
GET    /nodes/{node}/qemu/{vmid}/rrddata                            read
PUT    /nodes/{node}/qemu/{vmid}/sendkey                            destructive sendkey
GET    /nodes/{node}/qemu/{vmid}/snapshot                           read
POST   /nodes/{node}/qemu/{vmid}/snapshot                           write
GET    /nodes/{node}/qemu/{vmid}/snapshot/{snapname}                read
DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}                destructive snapshot-delete
GET    /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config         read
PUT    /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config         write
POST   /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback       destructive rollback
POST   /nodes/{node}/qemu/{vmid}/spiceproxy                         destructive console
GET    /nodes/{node}/qemu/{vmid}/status                             read
GET    /nodes/{node}/qemu/{vmid}/status/current                     read
POST   /nodes/{node}/qemu/{vmid}/status/reboot                      write
POST   /nodes/{node}/qemu/{vmid}/status/reset                       destructive reset
POST   /nodes/{node}/qemu/{vmid}/status/resume                      write
POST   /nodes/{node}/qemu/{vmid}/status/shutdown                    write
POST   /nodes/{node}/qemu/{vmid}/status/start                       write
POST   /nodes/{node}/qemu/{vmid}/status/stop                        destructive hard-stop
POST   /nodes/{node}/qemu/{vmid}/status/suspend                     write
POST   /nodes/{node}/qemu/{vmid}/template                           destructive template
POST   /nodes/{node}/qemu/{vmid}/termproxy                          destructive console
PUT    /nodes/{node}/qemu/{vmid}/unlink                             destructive disk-unlink
POST   /nodes/{node}/qemu/{vmid}/vncproxy                           destructive console
GET    /nodes/{node}/qemu/{vmid}/vncwebsocket                       destructive console
GET    /nodes/{node}/query-oci-repo-tags                            read
GET    /nodes/{node}/query-url-metadata                             read
GET    /nodes/{node}/replication                                    read
GET    /nodes/{node}/replication/{id}                               read
GET    /nodes/{node}/replication/{id}/log                           read
POST   /nodes/{node}/replication/{id}/schedule_now                  write
GET    /nodes/{node}/replication/{id}/status                        read
GET    /nodes/{node}/report                                         read
GET    /nodes/{node}/rrd                                            read
GET    /nodes/{node}/rrddata                                        read
GET    /nodes/{node}/scan                                           read
GET    /nodes/{node}/scan/cifs                                      read
GET    /nodes/{node}/scan/iscsi                                     read
GET    /nodes/{node}/scan/lvm                                       read
GET    /nodes/{node}/scan/lvmthin                                   read
GET    /nodes/{node}/scan/nfs                                       read
GET    /nodes/{node}/scan/pbs                                       read
GET    /nodes/{node}/scan/zfs                                       read
GET    /nodes/{node}/sdn                                            read
GET    /nodes/{node}/sdn/fabrics/{fabric}                           read
GET    /nodes/{node}/sdn/fabrics/{fabric}/interfaces                read
GET    /nodes/{node}/sdn/fabrics/{fabric}/neighbors                 read
GET    /nodes/{node}/sdn/fabrics/{fabric}/routes                    read
GET    /nodes/{node}/sdn/vnets/{vnet}                               read
GET    /nodes/{node}/sdn/vnets/{vnet}/mac-vrf                       read
GET    /nodes/{node}/sdn/zones                                      read
GET    /nodes/{node}/sdn/zones/{zone}                               read
GET    /nodes/{node}/sdn/zones/{zone}/bridges                       read
GET    /nodes/{node}/sdn/zones/{zone}/content                       read
GET    /nodes/{node}/sdn/zones/{zone}/ip-vrf                        read
GET    /nodes/{node}/services                                       read
GET    /nodes/{node}/services/{service}                             read
POST   /nodes/{node}/services/{service}/reload                      write
POST   /nodes/{node}/services/{service}/restart                     destructive service-stop
POST   /nodes/{node}/services/{service}/start                       write
GET    /nodes/{node}/services/{service}/state                       read
POST   /nodes/{node}/services/{service}/stop                        destructive service-stop
POST   /nodes/{node}/spiceshell                                     destructive node-shell
POST   /nodes/{node}/startall                                       write
GET    /nodes/{node}/status                                         read
POST   /nodes/{node}/status                                         destructive node-power
POST   /nodes/{node}/stopall                                        destructive stopall
GET    /nodes/{node}/storage                                        read
GET    /nodes/{node}/storage/{storage}                              read
GET    /nodes/{node}/storage/{storage}/content                      read
POST   /nodes/{node}/storage/{storage}/content                      write
GET    /nodes/{node}/storage/{storage}/content/{volume}             read
POST   /nodes/{node}/storage/{storage}/content/{volume}             write
PUT    /nodes/{node}/storage/{storage}/content/{volume}             write
DELETE /nodes/{node}/storage/{storage}/content/{volume}             destructive volume-delete
POST   /nodes/{node}/storage/{storage}/download-url                 write
GET    /nodes/{node}/storage/{storage}/file-restore/download        secret      backup-file-read
GET    /nodes/{node}/storage/{storage}/file-restore/list            read
GET    /nodes/{node}/storage/{storage}/identity                     read
GET    /nodes/{node}/storage/{storage}/import-metadata              read
POST   /nodes/{node}/storage/{storage}/oci-registry-pull            write
GET    /nodes/{node}/storage/{storage}/prunebackups                 read
DELETE /nodes/{node}/storage/{storage}/prunebackups                 destructive prune-backups
GET    /nodes/{node}/storage/{storage}/rrd                          read
GET    /nodes/{node}/storage/{storage}/rrddata                      read
GET    /nodes/{node}/storage/{storage}/status                       read
POST   /nodes/{node}/storage/{storage}/upload                       write
GET    /nodes/{node}/subscription                                   read
POST   /nodes/{node}/subscription                                   write
PUT    /nodes/{node}/subscription                                   write
DELETE /nodes/{node}/subscription                                   write
POST   /nodes/{node}/suspendall                                     destructive stopall
GET    /nodes/{node}/syslog                                         read
GET    /nodes/{node}/tasks                                          read
GET    /nodes/{node}/tasks/{upid}                                   read
DELETE /nodes/{node}/tasks/{upid}                                   write
GET    /nodes/{node}/tasks/{upid}/log                               read
GET    /nodes/{node}/tasks/{upid}/status                            read
POST   /nodes/{node}/termproxy                                      destructive node-shell
GET    /nodes/{node}/time                                           read
PUT    /nodes/{node}/time                                           write
GET    /nodes/{node}/version                                        read
POST   /nodes/{node}/vncshell                                       destructive node-shell
GET    /nodes/{node}/vncwebsocket                                   destructive console
POST   /nodes/{node}/vzdump                                         write
GET    /nodes/{node}/vzdump/defaults                                read
GET    /nodes/{node}/vzdump/extractconfig                           read
POST   /nodes/{node}/wakeonlan                                      write
GET    /pools                                                       read
POST   /pools                                                       write
PUT    /pools                                                       write
DELETE /pools                                                       destructive pool-delete
GET    /pools/{poolid}                                              read
PUT    /pools/{poolid}                                              write
DELETE /pools/{poolid}                                              destructive pool-delete
GET    /storage                                                     read
POST   /storage                                                     write
GET    /storage/{storage}                                           read
PUT    /storage/{storage}                                           write
DELETE /storage/{storage}                                           destructive storage-remove
GET    /version                                                     read
"""

# --- the classification type ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Classification:
    """What an operation is, before any operator rule.

    Attributes:
        kind: read, write or destructive.
        reason: one line for a human ("POST /nodes/{node}/qemu/{vmid}/status/stop: hard-stop").
        impact: key into :data:`IMPACTS`, or None for plain reads and writes.
        sensitive: the answer carries credentials or private data (secret reads).
        known: found in the reviewed tables (unknown things are destructive).
        forbidden: never allowed, whatever the mode or the rules (a program the CLI plane does
            not run, a relative file path).
    """

    kind: Kind
    reason: str
    impact: str | None = None
    sensitive: bool = False
    known: bool = True
    forbidden: bool = False

    @property
    def required_mode(self) -> str:
        """The least access mode in which the defaults allow this (secret reads need admin)."""
        return "admin" if self.sensitive else _KIND_MODE[self.kind]

    @property
    def needs_confirmation(self) -> bool:
        """Whether the defaults ask a human first (destructive and secret operations)."""
        return self.kind == "destructive" or self.sensitive

    def at_least(self, kind: Kind, reason: str, impact: str | None = None) -> Classification:
        """This classification, raised to ``kind`` if that is higher (never lowered)."""
        if _KIND_RANK[kind] <= _KIND_RANK[self.kind]:
            return self
        return Classification(kind, reason, impact or self.impact, self.sensitive, self.known, self.forbidden)


def _reason(label: str, kind: str, impact: str | None) -> str:
    what = "a secret read" if kind == "secret" else kind
    return f"{label} is {what}" + (f" ({impact})" if impact else "")


def _cls(kind: str, reason: str, impact: str | None) -> Classification:
    if kind == "secret":
        return Classification("read", reason, impact or "credentials", sensitive=True)
    if kind not in _KIND_RANK:
        raise ValueError(f"unknown class {kind!r}")
    return Classification(kind, reason, impact or None)  # type: ignore[arg-type]


# --- the API table and path templates ------------------------------------------------------


class _Node:
    __slots__ = ("literals", "param", "template")

    def __init__(self) -> None:
        self.template: str | None = None
        self.literals: dict[str, _Node] = {}
        self.param: tuple[str, _Node] | None = None


def _parse_api_table(text: str) -> tuple[dict[tuple[str, str], Classification], _Node]:
    table: dict[tuple[str, str], Classification] = {}
    root = _Node()
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) not in (3, 4):
            raise ValueError(f"API_TABLE line {n}: {line!r}")
        method, path, kind = parts[:3]
        impact = parts[3] if len(parts) == 4 else None
        if impact is not None and impact not in IMPACTS:
            raise ValueError(f"API_TABLE line {n}: unknown impact {impact!r}")
        if (method, path) in table:
            raise ValueError(f"API_TABLE line {n}: {method} {path} listed twice")
        label = f"{method} {path}"
        table[(method, path)] = _cls(kind, _reason(label, kind, impact), impact)
        node = root
        for seg in path.strip("/").split("/"):
            if seg.startswith("{") and seg.endswith("}"):
                if node.param is None:
                    node.param = (seg[1:-1], _Node())
                elif node.param[0] != seg[1:-1]:
                    raise ValueError(f"API_TABLE line {n}: two parameter names at one level in {path}")
                node = node.param[1]
            else:
                node = node.literals.setdefault(seg, _Node())
        node.template = path
    return table, root


_API, _ROOT = _parse_api_table(API_TABLE)


def endpoint_table() -> Mapping[tuple[str, str], Classification]:
    """Every (method, path template) with its built-in classification."""
    return MappingProxyType(_API)


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def normalize_api_path(path: str) -> str:
    """``path`` with percent-encoded unreserved characters decoded (``/nodes/pve1/%71emu`` is
    ``/nodes/pve1/qemu`` to PVE, and must be to the policy too); other escapes, such as the
    ``%2F`` inside a volume ID, stay encoded, in upper case."""
    if "%" not in path:
        return path

    def one(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else m.group(0).upper()

    return _PERCENT.sub(one, path)


_BAD_PATH = re.compile(r"[\s?#\\\x00]")


def resolve_template(path: str) -> tuple[str, dict[str, str]] | None:
    """The path template of a concrete API path, and the values of its parameters.

    Literal segments take precedence over parameters (as in PVE's router). Returns None for a
    path that is not in the table or is malformed (empty, ``.``/``..`` segments, a query
    string): such paths are classified as unknown.

    >>> resolve_template("/nodes/pve1/qemu/101/status/stop")
    ('/nodes/{node}/qemu/{vmid}/status/stop', {'node': 'pve1', 'vmid': '101'})
    """
    found = _resolve(path)
    return (found[0], dict(found[1])) if found else None


@functools.lru_cache(maxsize=4096)
def _resolve(path: str) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    if not path.startswith("/") or _BAD_PATH.search(path):
        return None
    segments = normalize_api_path(path)[1:].split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        return None
    values: dict[str, str] = {}

    def walk(node: _Node, i: int) -> str | None:
        if i == len(segments):
            return node.template
        seg = segments[i]
        literal = node.literals.get(seg)
        if literal is not None:
            found = walk(literal, i + 1)
            if found is not None:
                return found
        if node.param is not None:
            try:
                decoded = unquote(seg, errors="strict")
            except UnicodeDecodeError:
                return None
            if not decoded or any(part in ("", ".", "..") for part in decoded.split("/")):
                return None
            name, child = node.param
            values[name] = decoded
            found = walk(child, i + 1)
            if found is not None:
                return found
            values.pop(name, None)
        return None

    template = walk(_ROOT, 0)
    return (template, tuple(values.items())) if template is not None else None


_TRUE = {"1", "true", "yes", "on"}


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in _TRUE


_DISK_KEY = re.compile(r"^(?:ide|sata|scsi|virtio|efidisk|tpmstate|unused|mp)\d+$|^rootfs$")
_GUEST = r"/nodes/\{node\}/(?:qemu|lxc)/\{vmid\}"
_RESIZE = re.compile(_GUEST + r"/resize")
_CONFIG = re.compile(_GUEST + r"/config")
_SHUTDOWN = re.compile(_GUEST + r"/status/shutdown")
_CREATE = re.compile(r"/nodes/\{node\}/(?:qemu|lxc)")
_REMOTE = re.compile(_GUEST + r"/remote_migrate")


def _refine(method: str, template: str, params: Mapping[str, Any], base: Classification) -> Classification:
    """Parameters that change an endpoint's class."""
    if method == "PUT" and _RESIZE.fullmatch(template):
        size = str(params.get("size", "")).strip()
        if not size.startswith("+"):
            return Classification(
                "destructive", f"{method} {template} with size={size!r}: not a '+' grow", "disk-shrink"
            )
    elif method in ("PUT", "POST") and _CONFIG.fullmatch(template):
        raw = params.get("delete")
        items = raw if isinstance(raw, (list, tuple)) else re.split(r"[,;\s]+", str(raw or ""))
        disks = sorted({str(k).strip() for k in items if _DISK_KEY.match(str(k).strip())})
        if disks:
            return Classification(
                "destructive", f"{method} {template} deletes disk entries {', '.join(disks)}", "disk-detach"
            )
    elif method == "POST" and _SHUTDOWN.fullmatch(template):
        if _truthy(params.get("forceStop")):
            return Classification("destructive", f"{method} {template} with forceStop=1", "hard-stop")
    elif method == "POST" and _CREATE.fullmatch(template):
        if _truthy(params.get("force")):
            return Classification("destructive", f"{method} {template} with force=1", "guest-overwrite")
    elif method == "POST" and _REMOTE.fullmatch(template):
        if _truthy(params.get("delete")):
            return Classification("destructive", f"{method} {template} with delete=1", "remote-migrate-delete")
    return base


def classify_api(method: str, path: str, params: Mapping[str, Any] | None = None) -> Classification:
    """The built-in class of a REST request (concrete path or template).

    Unknown endpoints and malformed paths are destructive (fail closed).
    """
    return _classify_api(method.upper(), path, params, _resolve(path))


def _classify_api(
    method: str, path: str, params: Mapping[str, Any] | None, found: tuple[str, Any] | None
) -> Classification:
    template = found[0] if found else (path if (method, path) in _API else None)
    base = _API.get((method, template)) if template else None
    if base is None:
        return Classification(
            "destructive", f"{method} {path} is not in the reviewed endpoint table", "unknown-endpoint", known=False
        )
    return _refine(method, template, params or {}, base) if template else base


# --- the CLI table --------------------------------------------------------------------------

# binary -> rows of (subcommand phrases separated by "|", class, impact). The longest phrase
# that prefixes the command's words wins; a command that matches no phrase is destructive.
# pvesh is classified through the API table (see classify_cli).
CLI_TABLE: Mapping[str, tuple[tuple[str, str, str], ...]] = MappingProxyType(
    {
        "qm": (
            ("list|config|status|pending|showcmd|listsnapshot|help|wait|cloudinit pending|guest exec-status",
             "read", ""),
            ("cloudinit dump", "secret", "credentials"),
            ("create|set|start|shutdown|reboot|suspend|resume|migrate|clone|snapshot|rescan|unlock|cleanup|"
             "nbdstop|import|importdisk|importovf|move-disk|move_disk|disk move|disk import|disk rescan|"
             "cloudinit update|guest cmd|agent|remote-migrate|resize|disk resize", "write", ""),
            ("destroy", "destructive", "guest-destroy"),
            ("stop", "destructive", "hard-stop"),
            ("reset", "destructive", "reset"),
            ("rollback", "destructive", "rollback"),
            ("delsnapshot", "destructive", "snapshot-delete"),
            ("unlink|disk unlink", "destructive", "disk-unlink"),
            ("template", "destructive", "template"),
            ("monitor", "destructive", "monitor"),
            ("sendkey", "destructive", "sendkey"),
            ("terminal|vncproxy", "destructive", "console"),
            ("mtunnel", "destructive", "migration-tunnel"),
            ("guest exec", "destructive", "guest-exec"),
            ("guest passwd", "destructive", "guest-password"),
        ),
        "pct": (
            ("list|config|status|pending|listsnapshot|df|cpusets|help", "read", ""),
            ("create|set|start|shutdown|reboot|suspend|resume|migrate|clone|snapshot|rescan|unlock|fstrim|fsck|"
             "move-volume|move_volume|remote-migrate|resize|restore|unmount", "write", ""),
            ("destroy", "destructive", "guest-destroy"),
            ("stop", "destructive", "hard-stop"),
            ("rollback", "destructive", "rollback"),
            ("delsnapshot", "destructive", "snapshot-delete"),
            ("template", "destructive", "template"),
            ("enter|console", "destructive", "console"),
            ("exec", "destructive", "guest-exec"),
            ("push", "destructive", "guest-file-write"),
            ("pull|mount", "destructive", "guest-file-read"),
        ),
        "pvesh": (("ls|usage|help", "read", ""),),
        "pvesm": (
            ("status|list|path|apiinfo|help|scan|cifsscan|glusterfsscan|iscsiscan|lvmscan|lvmthinscan|nfsscan|"
             "zfsscan|extractconfig", "read", ""),
            ("add|set|alloc|import", "write", ""),
            ("export", "secret", "guest-data"),
            ("free", "destructive", "volume-delete"),
            ("remove", "destructive", "storage-remove"),
            ("prune-backups", "destructive", "prune-backups"),
        ),
        "pveam": (
            ("list|available|help", "read", ""),
            ("download|update", "write", ""),
            ("remove", "destructive", "volume-delete"),
        ),
        "vzdump": (("", "write", ""), ("help", "read", "")),
        "ha-manager": (
            ("status|config|groupconfig|rules config|rules list|help", "read", ""),
            ("add|set|remove|migrate|relocate|groupadd|groupset|groupremove|rules add|rules set|rules remove|"
             "crm-command migrate|crm-command relocate|crm-command node-maintenance|crm-command arm-ha|"
             "crm-command disarm-ha", "write", ""),
            ("crm-command stop", "destructive", "hard-stop"),
        ),
        "pvecm": (
            ("status|nodes|apiver|help|qdevice help", "read", ""),
            ("add|addnode|delnode|create|expected|qdevice setup|qdevice remove", "destructive", "cluster-membership"),
            ("keygen|updatecerts", "destructive", "certificate"),
            ("mtunnel", "destructive", "migration-tunnel"),
        ),
        "pveum": (
            ("help|user list|user permissions|user token list|user token permissions|user tfa list|group list|"
             "role list|acl list|pool list|realm list", "read", ""),
            ("pool add|pool modify", "write", ""),
            ("pool delete", "destructive", "pool-delete"),
            ("user|useradd|usermod|userdel", "destructive", "user"),
            ("user token", "destructive", "token"),
            ("user tfa|tfa", "destructive", "tfa"),
            ("acl|aclmod|acldel", "destructive", "acl"),
            ("role|roleadd|rolemod|roledel", "destructive", "role"),
            ("group|groupadd|groupmod|groupdel", "destructive", "group"),
            ("realm", "destructive", "realm"),
            ("passwd", "destructive", "password"),
            ("ticket", "destructive", "ticket"),
        ),
        "pvenode": (
            ("help|config get|task list|task log|task status|cert info|acme account list|acme account info",
             "read", ""),
            ("acme plugin list|acme plugin config", "secret", "credentials"),
            ("config set|startall|migrateall|wakeonlan|acme account register|acme account update|"
             "acme plugin add|acme plugin set|acme plugin remove", "write", ""),
            ("stopall", "destructive", "stopall"),
            ("cert delete|cert set|acme cert order|acme cert renew|acme cert revoke", "destructive", "certificate"),
            ("acme account deactivate", "destructive", "acme-account"),
        ),
        "ceph": (
            ("status|health|health detail|df|df detail|version|versions|quorum_status|report|time-sync-status|"
             "osd tree|osd df|osd stat|osd ls|osd dump|osd perf|osd find|osd metadata|osd utilization|osd versions|"
             "osd ok-to-stop|osd safe-to-destroy|osd pool ls|osd pool stats|osd pool get|osd pool autoscale-status|"
             "osd crush tree|osd crush rule ls|osd crush rule dump|osd blocklist ls|mon stat|mon dump|mgr stat|"
             "mgr dump|mgr services|mgr module ls|mds stat|fs ls|fs status|fs dump|pg stat|pg dump|pg ls|"
             "pg ls-by-pool|crash ls|crash info|config dump|config get|config show|config ls|config-key ls|"
             "log last", "read", ""),
            ("auth ls|auth list|auth get|auth export|auth print-key|auth get-key|config-key get|config-key dump",
             "secret", "credentials"),
            ("osd set|osd unset|osd in|osd out|osd reweight|osd scrub|osd deep-scrub|osd pool create|osd pool set|"
             "osd pool set-quota|osd pool application enable|config set|config rm|mgr module enable|"
             "mgr module disable|crash archive|crash archive-all|pg repair|pg scrub|pg deep-scrub", "write", ""),
            ("osd destroy|osd purge|osd purge-new|osd rm|osd down|osd lost|osd crush remove|osd crush rm|"
             "osd pool delete|osd pool rm|osd pool rename|fs rm|fs fail|mon remove|mon rm|auth del|auth rm|"
             "config-key rm|config-key del", "destructive", "ceph-destroy"),
        ),
    }
)


def _build_cli_index() -> dict[str, dict[tuple[str, ...], Classification]]:
    index: dict[str, dict[tuple[str, ...], Classification]] = {}
    for binary, rows in CLI_TABLE.items():
        entries: dict[tuple[str, ...], Classification] = {}
        for phrases, kind, impact in rows:
            if impact and impact not in IMPACTS:
                raise ValueError(f"CLI_TABLE {binary}: unknown impact {impact!r}")
            for phrase in phrases.split("|"):
                words = tuple(phrase.split())
                label = " ".join((binary, *words))
                if words in entries:
                    raise ValueError(f"CLI_TABLE: {label!r} listed twice")
                entries[words] = _cls(kind, _reason(label, kind, impact), impact or None)
        index[binary] = entries
    return index


_CLI = _build_cli_index()

# options taking a value before the subcommand (ceph only; the PVE tools take the
# subcommand first)
_CEPH_VALUE_OPTIONS = {"-f", "--format", "-c", "--conf", "--cluster", "-n", "--name", "-i", "--id", "-k",
                       "--keyring", "--connect-timeout", "-m"}
_OPTION = re.compile(r"^--?[A-Za-z]")
_PVESH_METHOD = {"get": "GET", "create": "POST", "set": "PUT", "delete": "DELETE"}
_PVESH_VERB = {v: k for k, v in _PVESH_METHOD.items()}


@dataclass(frozen=True, slots=True)
class CliCommand:
    """An argv, read: the program, the words before the first option, options, positionals."""

    binary: str
    words: tuple[str, ...]
    tokens: tuple[str, ...]
    options: Mapping[str, str]
    api_method: str | None = None
    api_path: str | None = None
    api_params: Mapping[str, Any] = field(default_factory=dict)


def _parse_argv(argv: Sequence[str]) -> tuple[str, list[str], dict[str, str]]:
    """(binary, non-option tokens, options). ``--k=v``, ``--k v`` and ``-k v`` are options; a
    token like ``-1G`` is a value, not an option (PVE option names start with a letter)."""
    # the program by bare name, as the CLI plane takes it; a path is never one of ours
    binary = argv[0] if argv else ""
    tokens: list[str] = []
    options: dict[str, str] = {}
    rest = list(argv[1:])
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok == "--":
            tokens.extend(rest[i + 1 :])
            break
        if _OPTION.match(tok):
            name, eq, value = tok.lstrip("-").partition("=")
            if not eq:
                nxt = rest[i + 1] if i + 1 < len(rest) else None
                bare_flag = binary == "ceph" and tok not in _CEPH_VALUE_OPTIONS
                if nxt is not None and not _OPTION.match(nxt) and not bare_flag:
                    value = nxt
                    i += 1
                else:
                    value = "1"
            # a repeated option keeps every value (``--delete scsi1 --delete scsi2``)
            options[name] = f"{options[name]},{value}" if name in options else value
        else:
            tokens.append(tok)
        i += 1
    return binary, tokens, options


# qm/pct subcommands and the REST request each one is (for operator rules on API paths).
_GUEST_API: Mapping[tuple[str, ...], tuple[str, str]] = MappingProxyType(
    {
        ("destroy",): ("DELETE", ""),
        ("start",): ("POST", "/status/start"),
        ("stop",): ("POST", "/status/stop"),
        ("reset",): ("POST", "/status/reset"),
        ("shutdown",): ("POST", "/status/shutdown"),
        ("reboot",): ("POST", "/status/reboot"),
        ("suspend",): ("POST", "/status/suspend"),
        ("resume",): ("POST", "/status/resume"),
        ("status",): ("GET", "/status/current"),
        ("config",): ("GET", "/config"),
        ("pending",): ("GET", "/pending"),
        ("set",): ("PUT", "/config"),
        ("snapshot",): ("POST", "/snapshot"),
        ("listsnapshot",): ("GET", "/snapshot"),
        ("delsnapshot",): ("DELETE", "/snapshot/{snapname}"),
        ("rollback",): ("POST", "/snapshot/{snapname}/rollback"),
        ("migrate",): ("POST", "/migrate"),
        ("remote-migrate",): ("POST", "/remote_migrate"),
        ("clone",): ("POST", "/clone"),
        ("template",): ("POST", "/template"),
        ("resize",): ("PUT", "/resize"),
        ("disk", "resize"): ("PUT", "/resize"),
        ("unlink",): ("PUT", "/unlink"),
        ("disk", "unlink"): ("PUT", "/unlink"),
        ("move-disk",): ("POST", "/move_disk"),
        ("move_disk",): ("POST", "/move_disk"),
        ("disk", "move"): ("POST", "/move_disk"),
        ("move-volume",): ("POST", "/move_volume"),
        ("move_volume",): ("POST", "/move_volume"),
        ("monitor",): ("POST", "/monitor"),
        ("sendkey",): ("PUT", "/sendkey"),
        ("guest", "exec"): ("POST", "/agent/exec"),
        ("vncproxy",): ("POST", "/vncproxy"),
        ("cloudinit", "dump"): ("GET", "/cloudinit/dump"),
    }
)


def _guest_api(
    binary: str, words: tuple[str, ...], tokens: list[str], options: Mapping[str, str], node: str | None
) -> tuple[str, str, dict[str, Any]] | None:
    kind = "qemu" if binary == "qm" else "lxc"
    base = f"/nodes/{node or '{node}'}/{kind}"
    if words == ("list",):
        return "GET", base, {}
    if words == ("create",) and tokens[1:2]:
        return "POST", base, {"vmid": tokens[1], **options}
    found = _GUEST_API.get(words)
    positionals = tokens[len(words) :]
    if found is None or not positionals or not positionals[0].isdigit():
        return None
    method, suffix = found
    params: dict[str, Any] = dict(options)
    if "{snapname}" in suffix:
        if len(positionals) < 2:
            return None
        suffix = suffix.replace("{snapname}", positionals[1])
    if suffix == "/resize" and len(positionals) >= 3:
        params["disk"], params["size"] = positionals[1], positionals[2]
    return method, f"{base}/{positionals[0]}{suffix}", params


def parse_cli(argv: Sequence[str], node: str | None = None) -> CliCommand:
    """Read an argv: program, subcommand words, options, and the REST request it equals
    (``pvesh`` always; ``qm``/``pct`` for the subcommands that have one)."""
    binary, tokens, options = _parse_argv(argv)
    api: tuple[str, str, dict[str, Any]] | None = None
    if binary == "pvesh" and len(tokens) >= 2 and tokens[0] in _PVESH_METHOD:
        words: tuple[str, ...] = (tokens[0],)
        params = {k: v for k, v in options.items() if k not in ("output-format", "noproxy", "quiet", "human-readable",
                                                                "noborder", "noheader")}
        api = (_PVESH_METHOD[tokens[0]], tokens[1], params)
    elif binary in _CLI:
        known = _CLI[binary]
        best: tuple[str, ...] = ()
        for n in range(len(tokens), 0, -1):
            if tuple(tokens[:n]) in known:
                best = tuple(tokens[:n])
                break
        # words are the subcommand as far as the table knows it; else the first token
        words = best or (() if () in known else tuple(tokens[:1]))
        if binary in ("qm", "pct"):
            api = _guest_api(binary, words, tokens, options, node)
    else:
        words = tuple(tokens[:1])
    opts = MappingProxyType(options)
    if api is None:
        return CliCommand(binary, words, tuple(tokens), opts)
    return CliCommand(binary, words, tuple(tokens), opts, api[0], api[1], MappingProxyType(api[2]))


def classify_cli(argv: Sequence[str], node: str | None = None) -> Classification:
    """The built-in class of a CLI command.

    ``pvesh get|create|set|delete PATH`` is classified like the REST request it is; qm/pct
    subcommands that equal a REST request take the higher of both classes. Unknown subcommands
    are destructive; a program outside the CLI table is forbidden.
    """
    return _classify_cli(parse_cli(argv, node), argv)


def _classify_cli(cmd: CliCommand, argv: Sequence[str]) -> Classification:
    if cmd.binary not in _CLI:
        diagnostic = _node_diagnostic(argv)
        if diagnostic is not None:
            return diagnostic
        return Classification(
            "destructive", f"{cmd.binary or '(empty command)'} is not a program the CLI plane runs",
            "unknown-command", known=False, forbidden=True,
        )
    label = " ".join((cmd.binary, *cmd.words)).strip()
    if cmd.binary == "pvesh" and cmd.api_method is not None and cmd.api_path is not None:
        found = classify_api(cmd.api_method, cmd.api_path, cmd.api_params)
        via = Classification(found.kind, f"pvesh {cmd.words[0]}: {found.reason}", found.impact, found.sensitive,
                             found.known)
        if cmd.api_method == "DELETE":
            # the CLI table says `pvesh delete` is destructive, whatever it deletes
            via = via.at_least("destructive", f"pvesh delete is destructive ({found.reason})", found.impact)
        return via
    entries = _CLI[cmd.binary]
    base = entries.get(cmd.words)
    if base is None and cmd.binary == "ceph" and not cmd.words and set(cmd.options) <= {"s", "status", "w", "watch",
                                                                                        "f", "format"}:
        base = Classification("read", "ceph -s: status", None)
    if base is None and () in entries:
        base = entries[()]
    if base is None:
        return Classification("destructive", f"{label} is not in the reviewed command table", "unknown-command",
                              known=False)
    if cmd.api_method is not None and cmd.api_path is not None:
        via_api = classify_api(cmd.api_method, cmd.api_path, cmd.api_params)
        if via_api.known and (_KIND_RANK[via_api.kind] > _KIND_RANK[base.kind] or via_api.sensitive > base.sensitive):
            return Classification(via_api.kind, f"{label} ({via_api.reason})", via_api.impact,
                                  via_api.sensitive or base.sensitive)
    if cmd.binary == "pvesm" and cmd.words == ("prune-backups",) and _truthy(cmd.options.get("dry-run")):
        return Classification("read", "pvesm prune-backups --dry-run: lists what would be pruned")
    return base


def _node_diagnostic(argv: Sequence[str]) -> Classification | None:
    """The read-only node diagnostics the CLI plane also runs (``uptime``, ``df``,
    ``journalctl`` ...): a read when the CLI plane's own check accepts the argv, else forbidden.
    None for programs that are not diagnostics."""
    # Imported here: the transport owns that list and its checks; the policy reads them only
    # for a command that is not a Proxmox tool.
    try:
        from ..transports.cli import NODE_COMMANDS, validate_node_command
    except ImportError:  # pragma: no cover - a build without node diagnostics
        return None
    from ..errors import InvalidArgumentError

    if not argv or argv[0] not in NODE_COMMANDS:
        return None
    try:
        validate_node_command(list(argv))
    except InvalidArgumentError as exc:
        return Classification("destructive", f"{argv[0]}: {exc.message}", "unknown-command", known=False,
                              forbidden=True)
    return Classification("read", f"{argv[0]} is a read-only node diagnostic")


# --- the file plane ---------------------------------------------------------------------------

# Files that hold credentials: reading them needs admin mode and a confirmation.
SECRET_FILES: tuple[str, ...] = (
    "/etc/pve/priv/**",
    "/etc/pve/local/*.key",
    "/etc/pve/nodes/*/*.key",
    "/etc/pve/*.key",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/root/.ssh/**",
    "/home/*/.ssh/**",
    "/etc/ssh/ssh_host_*key",
    "/etc/corosync/authkey",
    "/etc/ceph/*keyring*",
    "/var/lib/ceph/**/keyring",
    "/etc/pve/ceph/**",
    "/etc/proxmox-backup/**",
)


def glob_regex(pattern: str) -> str:
    """A path glob as a regular expression: ``*`` and ``?`` stay within one segment, ``**``
    spans segments (``/a/**`` also matches ``/a``). Everything else is literal, including
    ``{vmid}`` (so a glob can name a path template)."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("/**", i) and (i + 3 == len(pattern) or pattern[i + 3] == "/"):
            out.append("(?:/.*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


_SECRET_FILE_RE = re.compile("|".join(f"(?:{glob_regex(p)})" for p in SECRET_FILES))


def normalize_file_path(path: str | None) -> str | None:
    """An absolute, normalised path (``/etc/pve/../shadow`` -> ``/etc/shadow``), or None when
    the path is relative or empty (those are forbidden: the policy cannot tell what they name)."""
    if not path or not path.startswith("/") or "\x00" in path:
        return None
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/")


def classify_file(path: str | None, *, write: bool) -> Classification:
    """The built-in class of a file operation on a node.

    Writes are destructive. Reads are reads, except files that hold credentials
    (:data:`SECRET_FILES`). Relative paths are forbidden. The policy sees the path as given:
    the file plane must resolve symbolic links on the node before asking.
    """
    norm = normalize_file_path(path)
    if norm is None:
        return Classification("destructive", f"file path {path!r} is not absolute", "file-write", known=False,
                              forbidden=True)
    if write:
        return Classification("destructive", f"write {norm}", "file-write")
    if _SECRET_FILE_RE.fullmatch(norm):
        return Classification("read", f"read {norm}: holds credentials", "file-secret", sensitive=True)
    return Classification("read", f"read {norm}")


# --- an Operation, inspected -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperationFacts:
    """Everything the policy matches an :class:`~proxmox_operator_mcp.operation.Operation` on.

    ``method``/``path``/``template`` are set for REST requests and for CLI commands that equal
    one (``pvesh``, most ``qm``/``pct`` subcommands), so one rule on an API path covers both
    planes. ``words`` is the subcommand as the command table knows it (``("osd", "destroy")``),
    ``tokens`` every argument that is not an option (subcommand rule criteria match a prefix of
    them). ``nodes`` and ``vmids`` collect every node and guest the operation names.
    """

    plane: str
    cluster: str
    tool: str | None
    method: str | None
    path: str | None
    template: str | None
    file_path: str | None
    binary: str | None
    words: tuple[str, ...]
    tokens: tuple[str, ...]
    nodes: tuple[str, ...]
    vmids: tuple[int, ...]
    classification: Classification


_VOLUME_VMID = re.compile(r"(?:^|[:/])(?:vm|base|subvol|basevol)-(\d{3,9})-|vzdump-(?:qemu|lxc)-(\d{3,9})-")
_SID = re.compile(r"^(?:vm:|ct:)?(\d{3,9})$")
_FILE_WRITE_METHODS = {"PUT", "POST", "DELETE", "WRITE", "UPLOAD", "REMOVE", "RENAME", "CHMOD", "MKDIR"}


def _vmid(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 100 <= value <= 999_999_999 else None
    if isinstance(value, str):
        m = _SID.match(value.strip())
        if m:
            return int(m.group(1))
        m = _VOLUME_VMID.search(value)
        if m:
            return int(m.group(1) or m.group(2))
    return None


def _collect_vmids(values: Iterable[Any]) -> tuple[int, ...]:
    out: list[int] = []
    for value in values:
        items = value if isinstance(value, (list, tuple)) else (
            re.split(r"[,;\s]+", value) if isinstance(value, str) and re.search(r"[,;\s]", value) else [value]
        )
        for item in items:
            found = _vmid(item)
            if found is not None and found not in out:
                out.append(found)
    return tuple(out)


def inspect_operation(op: Operation) -> OperationFacts:
    """Classify ``op`` and collect the facts rules match on.

    The class comes from the request itself (method, path, parameters, argv), never from the
    tool that built it; the tool's own ``destructive``/``read_only`` flags can only raise it.
    """
    nodes: list[str] = [op.node] if op.node else []
    method = path = template = file_path = binary = None
    words: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    vmid_sources: list[Any] = []
    params = dict(op.params or {})

    if op.plane == "api":
        method = (op.method or "").upper()
        path = normalize_api_path(op.path or "")
        found = _resolve(path)
        cls = _classify_api(method, path, params, found)
        if found:
            template, values = found[0], dict(found[1])
            if "node" in values:
                nodes.append(values["node"])
            vmid_sources += [values.get("vmid"), values.get("volume")]
            if template.endswith("/migrate") and isinstance(params.get("target"), str):
                nodes.append(params["target"])
        vmid_sources += [params.get(k) for k in ("vmid", "newid", "vms", "volume")]
    elif op.plane == "cli" and op.argv is None:
        # pvesh by method and path (the router builds the argv): classified as the REST request
        method = (op.method or "").upper()
        path = normalize_api_path(op.path or "")
        found = _resolve(path)
        cls = _classify_api(method, path, params, found)
        if method == "DELETE":
            cls = cls.at_least("destructive", f"pvesh delete is destructive ({cls.reason})", cls.impact)
        binary, words = "pvesh", (_PVESH_VERB.get(method, method.lower()),)
        if found:
            template, values = found[0], dict(found[1])
            if "node" in values:
                nodes.append(values["node"])
            vmid_sources += [values.get("vmid"), values.get("volume")]
        vmid_sources += [params.get(k) for k in ("vmid", "newid", "vms", "volume")]
    elif op.plane == "cli":
        argv = tuple(op.argv or ())
        cmd = parse_cli(argv, op.node)
        cls = _classify_cli(cmd, argv)
        binary, words = cmd.binary, cmd.words
        if cmd.api_method is not None and cmd.api_path is not None:
            method, path = cmd.api_method, normalize_api_path(cmd.api_path)
            found = _resolve(path)
            if found:
                template, values = found[0], dict(found[1])
                vmid_sources += [values.get("vmid"), values.get("volume")]
        tokens, options = cmd.tokens, cmd.options
        positionals = list(tokens[len(words):])
        if binary in ("qm", "pct"):
            # the guest is the first positional (a clone names its new id second)
            positionals = positionals[: 2 if words == ("clone",) else 1]
        vmid_sources += positionals if binary != "pvesh" else []
        vmid_sources += [options.get(k) for k in ("vmid", "newid", "vms")]
    elif op.plane == "file":
        method_u = (op.method or "").upper()
        write = (not op.read_only) or method_u in _FILE_WRITE_METHODS
        file_path = normalize_file_path(op.path) or op.path
        cls = classify_file(op.path, write=write)
    elif op.plane == "shell" and (op.method or "").upper() == "HOSTKEY-SCAN" and not op.argv:
        cls = Classification("read", "reads the node's SSH host key; sends nothing else")
    elif op.plane == "shell" and (op.method or "").upper() == "KEY-INSTALL":
        cls = Classification("destructive", "installs this server's SSH key on the node", "ssh-key-install")
    elif op.plane == "shell":
        binary = posixpath.basename(op.argv[0]) if op.argv else None
        tokens = tuple(op.argv[1:]) if op.argv else ()
        cls = Classification("destructive", "shell command on a node", "shell")
    else:
        cls = Classification("destructive", f"unknown plane {op.plane!r}", None, known=False, forbidden=True)

    if op.destructive:
        cls = cls.at_least("destructive", f"{cls.reason}; the tool marks it destructive")
    elif not op.read_only:
        cls = cls.at_least("write", f"{cls.reason}; the tool marks it as a change")

    return OperationFacts(
        plane=op.plane,
        cluster=op.cluster,
        tool=op.tool,
        method=method,
        path=path,
        template=template,
        file_path=file_path,
        binary=binary,
        words=words,
        tokens=tokens,
        nodes=tuple(dict.fromkeys(n for n in nodes if n)),
        vmids=_collect_vmids(v for v in vmid_sources if v is not None),
        classification=cls,
    )
