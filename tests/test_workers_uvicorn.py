"""``api/workers.py`` writes three of uvicorn's supervisor methods again (uvicorn has no public way
to choose a worker's server: see ``Workers``). When uvicorn changes them, this fails, so that the
copies are read against the new ones (a fix uvicorn makes to a worker's restart would otherwise
be silently missing here) and the digests updated."""

from __future__ import annotations

import hashlib
import inspect

from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from linkage.api.workers import UVICORN_COPIED


def test_the_uvicorn_code_the_workers_copy_is_the_code_they_were_written_against():
    def source(name: str):
        owner, attr = name.split(".")
        found = getattr({"Multiprocess": Multiprocess, "Process": Process}[owner], attr)
        return found.fget if isinstance(found, property) else found

    now = {name: hashlib.sha256(inspect.getsource(source(name)).encode()).hexdigest()[:16] for name in UVICORN_COPIED}
    assert now == UVICORN_COPIED, "uvicorn changed what api/workers.py copies: compare, then update UVICORN_COPIED"
