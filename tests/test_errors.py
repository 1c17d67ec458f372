"""The core's errors know nothing of HTTP; the REST door maps every one of them."""

from __future__ import annotations

from mcp_rag import errors
from mcp_rag.api import problems

CORE_ERRORS = [
    kind
    for kind in vars(errors).values()
    if isinstance(kind, type) and issubclass(kind, errors.McpRagError) and kind is not errors.McpRagError
]


def test_every_core_error_has_its_http_status_in_the_rest_door():
    assert CORE_ERRORS, "errors.py defines the hierarchy"
    unmapped = [kind.__name__ for kind in CORE_ERRORS if kind not in problems.STATUS]
    assert not unmapped, f"add these to api/problems.py STATUS: {unmapped}"


def test_core_errors_carry_no_http_status():
    assert not [kind.__name__ for kind in [errors.McpRagError, *CORE_ERRORS] if hasattr(kind, "status")]


def test_a_subclass_takes_the_status_of_its_nearest_mapped_class():
    class Gone(errors.NotFound):
        pass

    assert problems.status_of(Gone("x")) == 404
    assert problems.status_of(errors.McpRagError("x")) == 500
