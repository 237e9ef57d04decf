"""The hot routes send the model their flow built without FastAPI's ``response_model`` pass,
which would strip undeclared fields: so an answer of any other type must never be sent."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import BaseModel

from linkage.api.answer import answer


class Public(BaseModel):
    child_id: str


class Internal(Public):
    canonical_child_id: str          # what a public schema exists to keep out


def run(coro):
    """Run ``coro`` in a thread of its own: when the session's browser (Playwright) was started
    first in this process, it keeps an event loop running in this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_an_answer_of_another_type_than_the_public_schema_is_refused():
    with pytest.raises(TypeError):
        run(answer(lambda: Internal(child_id="P-1", canonical_child_id="C-1"), Public))
    sent = run(answer(lambda: Public(child_id="P-1"), Public))
    assert sent.status_code == 200 and sent.body == b'{"child_id":"P-1"}'
