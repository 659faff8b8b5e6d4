"""Measure the redaction cost: ``python -m tests.secrets.bench_redact`` (not a test).

Prints µs per call of ``Redactor.redact`` on 10 KB texts and of ``redact_obj`` on a PVE-like
guest list, with ten registered secret values.
"""

from __future__ import annotations

import json
import secrets
import timeit

from proxmox_operator_mcp.secrets import Redactor


def main() -> None:
    r = Redactor()
    for _ in range(10):
        r.add(secrets.token_urlsafe(27))
    vms = [
        {
            "vmid": 100 + i,
            "name": f"web{i}",
            "status": "running",
            "cpus": 2,
            "maxmem": 2147483648,
            "uptime": 12345 + i,
            "node": "pve1",
            "netin": 1234567,
            "diskread": 999,
        }
        for i in range(200)
    ]
    texts = {
        "PVE JSON, no credentials": json.dumps({"data": vms})[:10240],
        "task log / prose": ("INFO: starting new backup job: vzdump 101 --storage local --mode snapshot\n" * 200)[
            :10240
        ],
        "dense credentials": (
            '{"password": "abc123", "ticket": "PVE:root@pam:65A1B2C3::sigsig==", "CSRFPreventionToken": "65A1B2C3:xx",'
            ' "url": "https://u:p@h/x", "Authorization": "Bearer abc"},' * 80
        )[:10240],
    }
    for name, text in texts.items():
        n = 300 if name == "dense credentials" else 2000
        per_call = min(timeit.repeat(lambda t=text: r.redact(t), number=n, repeat=5)) / n
        print(f"redact, 10 KB {name:28s} {per_call * 1e6:8.1f} µs")
    doc = {"data": vms}
    per_call = min(timeit.repeat(lambda: r.redact_obj(doc), number=300, repeat=5)) / 300
    size = len(json.dumps(doc)) // 1024
    print(f"redact_obj, 200 guests ({size} KB as JSON)  {per_call * 1e6:8.1f} µs")
    plain = "x" * 10240
    per_call = min(timeit.repeat(lambda: plain.lower(), number=2000, repeat=5)) / 2000
    print(f"for scale: str.lower of 10 KB            {per_call * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
