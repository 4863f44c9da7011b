"""A station screen's write, retried while the database is away (screens may import this).

Call from a ``@work(thread=True)`` worker, with the operation id of the ONE Actor made for the
user action::

    @work(thread=True, group="counter-op", exit_on_error=False)
    def run_op(self, op_id: str, call: Callable[[], object]) -> object:
        return run_write(self, op_id, call, self._waiting)   # _waiting(text) shows the line

The policy itself (backoff, "not done", "outcome unknown", settling by operation id) lives in
:mod:`store.retry`, which has no Textual in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from textual.dom import DOMNode
from textual.worker import get_current_worker

from store.retry import DEFAULT_POLICY, RetryPolicy, run_with_retry
from tui.protocols import station_app

__all__ = ["run_write"]

R = TypeVar("R")


def run_write(
    node: DOMNode,
    op_id: str,
    call: Callable[[], R],
    show: Callable[[str], object],
    policy: RetryPolicy | None = None,
) -> R:
    """Run ``call`` until it lands once, is refused, or is given up ("not done" / "unknown").

    ``show(text)`` runs on the UI thread each time the station should say something
    ("Database unreachable — retrying…", "Outcome unknown — checking…").
    """
    store = station_app(node).store
    worker = get_current_worker()
    return run_with_retry(
        call,
        lambda _state, text: node.call_later(show, text),
        check=lambda: store.operation_outcome(op_id),
        cancelled=lambda: worker.is_cancelled,
        policy=policy or DEFAULT_POLICY,
    )
