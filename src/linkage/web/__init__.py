"""Web pages for staff, in the GOV.UK Design System, over the same service layer as the API.

A page never reads the store: it calls a keyword-only function in ``linkage.service``
with ``staff.ctx(purpose)`` and renders the model it returns, so pages and API share
one set of policies, consent checks and audit entries.
"""

from linkage.web.app import mount_web

__all__ = ["mount_web"]
