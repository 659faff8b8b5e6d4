"""``python -m proxmox_operator_mcp`` is the ``proxmox-mcp`` command."""

from .cli import main

raise SystemExit(main())
