#!/usr/bin/env python3
"""Writes a registry scenario for the emulator (`mptscan registry emulate --state`): 200 synthetic tokens (Active,
Disabled, Deleted) in four accounts, an admin credential allowed in three of them, and a tree that leaks 20
tokens: live ones, disabled and deleted ones, real ids beside fake or old secrets (mismatch), ids the registry
does not know, and a token in the account the admin may not read (forbidden). Also the expected verdict of
each leak.

Usage: scripts/registry-scenario.py OUT_DIR
  OUT_DIR/state.json      emulator state (the admin bearer is stored hashed by the emulator on first save)
  OUT_DIR/admin-token     the admin credential (for MPT_REGISTRY_TOKEN or --registry-token-file)
  OUT_DIR/tree/           the leaking tree
  OUT_DIR/expected.json   {"<token id>": "<verdict>"} for every leak

Every secret comes from scripts/synthetic.py: never a real one.
"""
import json, pathlib, sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from synthetic import synthetic_secret  # noqa: E402

if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
    print(__doc__, file=sys.stderr)
    sys.exit(64 if len(sys.argv) != 2 or sys.argv[1] not in ("-h", "--help") else 0)
out = pathlib.Path(sys.argv[1])
(out / "tree").mkdir(parents=True, exist_ok=True)

accounts = [("ACC-1000-0001", "Example Client", "Client"), ("ACC-1000-0002", "Example Vendor", "Vendor"),
            ("ACC-1000-0003", "Example Ops", "Operations"), ("ACC-1000-0004", "Locked Away Ltd", "Client")]


def tid(n):
    return "TKN-%04d-%04d" % (1500 + n // 100, n % 100 + 1000)


tokens = []
for n in range(200):
    status = "Active" if n % 20 < 12 else "Disabled" if n % 20 < 17 else "Deleted"
    acc = accounts[n % 4]
    record = {"id": tid(n), "href": "/accounts/api-tokens/" + tid(n), "status": status, "name": "token %d" % n,
              "description": "synthetic", "icon": "", "lastAccessAt": "2026-11-0%dT10:00:00.000Z" % (1 + n % 9),
              "account": {"id": acc[0], "href": "/accounts/accounts/" + acc[0], "name": acc[1], "type": acc[2], "status": "Active"}}
    if status != "Deleted":
        record["token"] = "idt:%s:%s" % (tid(n), synthetic_secret(1500 + n))
    tokens.append(record)

admin = "admin-" + synthetic_secret(1999, length=40)
state = {"tokens": tokens,
         "credentials": [{"name": "admin", "bearer": admin, "permissions": ["accessManagement", "readValue"],
                          "accounts": [a[0] for a in accounts[:3]]}]}
(out / "state.json").write_text(json.dumps(state, indent=1) + "\n")
(out / "admin-token").write_text(admin + "\n")
(out / "admin-token").chmod(0o600)
(out / "state.json").chmod(0o600)


def by(status, account_index, skip=0):
    hits = [n for n in range(200) if tokens[n]["status"] == status and n % 4 == account_index]
    return hits[skip:]


expected = {}
lines = []


def leak(n, secret_seed=None, verdict=None):
    secret = synthetic_secret(1500 + n if secret_seed is None else secret_seed)
    lines.append('export const T%d = "idt:%s:%s";' % (len(lines), tid(n), secret))
    expected[tid(n)] = verdict


for n in by("Active", 0)[:4] + by("Active", 1)[:2] + by("Active", 2)[:2]:
    leak(n, verdict="live")                                    # 8 live
for n in by("Disabled", 0)[:2] + by("Disabled", 2)[:1]:
    leak(n, verdict="disabled")                                # 3 disabled
for n in by("Deleted", 1)[:2]:
    leak(n, verdict="deleted")                                 # 2 deleted
for n in by("Active", 0)[10:12] + by("Active", 2)[10:11]:
    leak(n, secret_seed=1900 + n, verdict="mismatch")          # 3 real ids, fake secrets
for k in range(2):
    lines.append('export const U%d = "idt:TKN-9%03d-0042:%s";' % (k, k, synthetic_secret(1950 + k)))
    expected["TKN-9%03d-0042" % k] = "unknown"                 # 2 unknown ids
for n in by("Active", 3)[:2]:
    leak(n, verdict="forbidden")                               # 2 in an account the admin may not read
(out / "tree" / "leaks.ts").write_text("\n".join(lines) + "\n")
(out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
print("%d tokens, %d leaks (%s)" % (len(tokens), len(expected),
      ", ".join("%d %s" % (list(expected.values()).count(v), v) for v in sorted(set(expected.values())))))
