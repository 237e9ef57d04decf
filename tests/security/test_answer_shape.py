"""The hot routes send the model their flow built without FastAPI's ``response_model`` pass,
which would strip undeclared fields: so an answer of any other type must never be sent."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from browserpages import run_async
from linkage.api.answer import answer


class Public(BaseModel):
    child_id: str


class Internal(Public):
    canonical_child_id: str          # what a public schema exists to keep out


def test_an_answer_of_another_type_than_the_public_schema_is_refused():
    with pytest.raises(TypeError):
        run_async(answer(lambda: Internal(child_id="P-1", canonical_child_id="C-1"), Public))
    sent = run_async(answer(lambda: Public(child_id="P-1"), Public))
    assert sent.status_code == 200 and sent.body == b'{"child_id":"P-1"}'
