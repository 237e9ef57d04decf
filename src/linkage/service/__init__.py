"""Request flow, once, for JSON routes and pages alike.

Each resource has one module of keyword-only functions that take a ``Ctx``
(who asks, why, on which request), decide through the policy, read, build a
pydantic model and audit. They raise ``NotFound`` or ``Forbidden`` from
``linkage.errors``; routes and pages only translate. Because the functions
audit before they return, an allowed request cannot go unaudited.
"""

from linkage.service.container import Services
from linkage.service.context import Ctx

__all__ = ["Ctx", "Services"]
