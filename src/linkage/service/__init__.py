"""Request flow, once, for JSON routes and pages alike.

Each resource has one module of keyword-only functions that take a ``Ctx``
(who asks, why, on which request), decide through the policy, read, build a
pydantic model and audit. They raise ``NotFound`` or ``Forbidden`` from
``linkage.errors``; routes and pages only translate. Because the functions
audit before they return, an allowed request cannot go unaudited.

Both names are imported on first use: ``linkage serve``'s checks before it starts
(``service.startchecks``) need neither the container nor what it loads.
"""

from linkage.lazyexports import lazy_exports

__all__ = ["Ctx", "Services"]

__getattr__, __dir__ = lazy_exports(__name__, {"Ctx": "context", "Services": "container"})
