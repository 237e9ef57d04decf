"""What a command loads before it runs: a module it does not use costs every process its import.

Pinned by which modules are loaded, not by timing: ``linkage status`` went through ``linkage.views``
and ``linkage.reference``, whose ``__init__`` loaded the connectors and the register
loader (0.2 CPU s a process) that neither reads.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys
import linkage.views.status, linkage.views.quarantine
from linkage.reference import current_reference
print(json.dumps(sorted(m for m in sys.modules
                      if m.startswith(("linkage.connectors", "linkage.reference.load", "linkage.views.cme")))))
"""


def test_status_views_and_reference_lookups_load_no_connectors():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_lazy_names_are_the_modules_own():
    import linkage.reference as reference
    import linkage.views as views
    from linkage.reference.load import load_reference
    from linkage.views.cme import cme_children

    assert reference.load_reference is load_reference and views.cme_children is cme_children
    assert {"cme_children", "cme_sql"} <= set(dir(views))


_HASHES = """
import json
from argon2 import PasswordHasher
made = []
hash_ = PasswordHasher.hash
PasswordHasher.hash = lambda self, *a, **k: made.append(1) or hash_(self, *a, **k)
import linkage.access.users as users
assert not PasswordHasher().check_needs_rehash(users._DUMMY)      # a real password's work, still
print(json.dumps(len(made)))
"""


def test_importing_the_user_register_hashes_no_password():
    """Every server worker and CLI process imports ``access.users``; it hashed a random password
    there (argon2id at 64 MiB: 0.2 to 0.8 CPU s a process) for the unknown-email check."""
    out = subprocess.run([sys.executable, "-c", _HASHES], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == 0
