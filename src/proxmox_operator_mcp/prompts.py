"""MCP prompts for common operator work. Each names the tools to use, in order, and what to report;
they read nothing themselves. Register them with :func:`register_prompts`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.server import MCPServer

__all__ = ["register_prompts"]


def troubleshoot_vm_boot(vmid: str) -> str:
    return (
        f"VM {vmid} does not boot. Find out why and say what to do.\n"
        f"1. Call proxmox_vm_boot_diagnose with vmid={vmid} (toolset diagnose). It checks status, lock, the last "
        "start task and its log, the boot order, that every disk exists on its storage, and the console.\n"
        "2. For each failed check, explain the cause in one sentence, quoting the evidence (log line, config key).\n"
        "3. If the start log was capped, read its log_uri resource for the full log.\n"
        f"4. If the guest starts but the OS hangs, read proxmox://vms/{vmid}/config and suggest a console "
        "(proxmox_console_ticket).\n"
        "Change nothing without asking: propose the fix (tool and arguments) and wait for approval."
    )


def capacity_report(cluster: str = "default") -> str:
    return (
        f"Write a capacity report for cluster {cluster!r}.\n"
        f"1. Read proxmox://clusters/{cluster}/resources (or call proxmox_inventory_overview).\n"
        "2. Per node: CPU and memory used/total, guests running; per storage: used/total and the fullest ones.\n"
        "3. Flag nodes above 80 % memory or storages above 85 %, and overcommit (vCPUs per core, memory "
        "assigned vs. physical).\n"
        "4. Say where a new 4-vCPU/8-GiB VM with a 64-GiB disk fits best, and why.\n"
        "Present it as a short table plus at most five findings. This is read-only: change nothing."
    )


def pre_upgrade_check(node: str) -> str:
    return (
        f"Check that node {node} is ready for a Proxmox VE upgrade; change nothing.\n"
        f"1. Read proxmox://nodes/{node}/status (versions, load, uptime) and call proxmox_cluster_status "
        "(quorum, every node online).\n"
        "2. Call proxmox_ha_status: note HA resources on the node, which would be migrated away.\n"
        f"3. Call proxmox_task_list for node {node}: running tasks (backups, migrations) must finish first.\n"
        "4. List the guests on the node (proxmox_vm_list / proxmox_lxc_list with node) and whether each can be "
        "migrated (local disks, PCI passthrough) or must be shut down.\n"
        "5. If node access is configured, run proxmox_node_terminal_run `pveversion -v` and `df -h /`.\n"
        "Answer: ready / not ready, the blockers, and the order of steps (migrate, upgrade, reboot, migrate back)."
    )


def register_prompts(server: MCPServer) -> None:
    """Add the operator prompts to ``server``."""
    server.prompt(name="troubleshoot_vm_boot", title="Troubleshoot a VM that will not boot",
                  description="Diagnose a VM that does not boot and propose a fix.")(troubleshoot_vm_boot)
    server.prompt(name="capacity_report", title="Capacity report",
                  description="Node and storage usage, hot spots, and where new guests fit.")(capacity_report)
    server.prompt(name="pre_upgrade_check", title="Pre-upgrade check",
                  description="Is a node ready for a PVE upgrade: quorum, HA, tasks, guests.")(pre_upgrade_check)
