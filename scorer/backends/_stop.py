"""Whether a model request may still be sent: a batch stops at its first fatal error.

The engine's request slots (:mod:`scorer.engine._request_slots`) record the
error that will fail every request (a 401, no quota, an unknown model) and
show it here, to the requests of their batch, through :data:`STOP`. A paper
already past its slot checks it before each request it sends: a retry, a
re-ask, the next answer format, or a paper that waited for ``auto``'s mode
probe. The engine cancels those papers too, but only once its consumer asks
for the next result (a pipeline may be busy with the last one for seconds);
without this check they went on sending meanwhile.
"""

from __future__ import annotations

import contextvars
import copy

from scorer._errors import FatalBackendError

__all__ = ["STOP", "BatchStop", "raise_if_stopped"]


class BatchStop:
    """The error that stopped one batch, once there is one."""

    def __init__(self) -> None:
        self.error: FatalBackendError | None = None

    def stop(self, error: FatalBackendError) -> None:
        """Stop the batch at ``error`` (the first one stays)."""
        if self.error is None:
            self.error = error


# The stop of the batch this task's request belongs to (None: a request of its own).
STOP: contextvars.ContextVar[BatchStop | None] = contextvars.ContextVar(
    "scorer_batch_stop", default=None
)


def raise_if_stopped() -> None:
    """Raise the batch's fatal error instead of sending another request after it."""
    stop = STOP.get()
    if stop is not None and stop.error is not None:
        # A copy: each paper's traceback is its own.
        raise copy.copy(stop.error)
