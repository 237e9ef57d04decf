"""Run a request's flow in one worker thread and send its pydantic answer as JSON.

A plain ``def`` route costs FastAPI two trips through anyio's thread pool (the endpoint,
then validating the returned model against ``response_model`` again) and a check of the
model it already built. The hot routes (lookup, a child's view) are ``async def`` and
call ``answer``: one trip through a plain executor, and the model the flow built and
validated is serialised once. The route keeps ``response_model`` for the OpenAPI document;
errors raised by the flow propagate to the same exception handlers as before.
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from pydantic import BaseModel
from starlette.responses import Response

from linkage.api.deps import Pending

__all__ = ["answer"]

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    """One pool per process (workers are separate processes), as large as anyio's default."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(40, (os.cpu_count() or 1) * 5),
                                   thread_name_prefix="linkage-request")
    return _pool


def _run(flow: Callable[..., BaseModel], kwargs: dict) -> BaseModel:
    """In the worker thread: the caller's register check first (``Pending``), then the flow."""
    if isinstance(kwargs.get("ctx"), Pending):
        kwargs = {**kwargs, "ctx": kwargs["ctx"].ctx()}
    return flow(**kwargs)


async def answer(flow: Callable[..., BaseModel], public: type[BaseModel], /, status_code: int = 200,
                 **kwargs) -> Response:
    """``flow(**kwargs)`` in a worker thread (it may block: the register, the audit fsync), as JSON.
    A ``Pending`` ``ctx`` is completed there first (``api.deps``).
    ``response_model`` no longer strips fields the public schema does not declare, so the flow's
    answer must be exactly ``public`` (the route's ``response_model``): anything else is an error,
    never sent."""
    model = await asyncio.get_running_loop().run_in_executor(_executor(), functools.partial(_run, flow, kwargs))
    if type(model) is not public:
        raise TypeError(f"{getattr(flow, '__name__', flow)} answered {type(model).__name__}, not {public.__name__}")
    return Response(model.model_dump_json(by_alias=True), status_code, media_type="application/json")
