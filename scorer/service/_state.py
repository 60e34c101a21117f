"""What every request of one app shares: the scorer, the built-in rubrics, limits, metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from scorer._rubric import Rubric
from scorer._settings import Settings
from scorer.engine._scorer import Scorer
from scorer.service._metrics import ServiceMetrics

__all__ = ["ServiceState", "service_state"]


@dataclass
class ServiceState:
    """One app's shared state. ``scorer`` exists while the app's lifespan runs."""

    settings: Settings
    rubrics: dict[str, Rubric]
    max_batch: int
    concurrency: int
    api_token: str | None = field(default=None, repr=False)
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    scorer: Scorer | None = None

    @property
    def secrets(self) -> tuple[str | None, ...]:
        """What error messages must never contain."""
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else None
        return key, self.api_token

    def running_scorer(self) -> Scorer:
        if self.scorer is None:
            raise RuntimeError("the app is not started: run it with its lifespan (uvicorn does)")
        return self.scorer

    def rubric(self, choice: str | Rubric) -> Rubric:
        """The rubric a request asks for: a built-in by name, or the inline one (validated).

        A name is looked up among the built-ins loaded at start-up, never
        as a path, so no request can make the server read a file.
        """
        if isinstance(choice, Rubric):
            return choice
        found = self.rubrics.get(choice)
        if found is None:
            known = ", ".join(sorted(self.rubrics)) or "none"
            raise RequestValidationError(
                [
                    {
                        "type": "unknown_rubric",
                        "loc": ("body", "rubric"),
                        "msg": f"unknown rubric '{choice}' (built-in: {known}; "
                        "or give the rubric itself as an object)",
                        "input": choice,
                    }
                ]
            )
        return found


async def service_state(request: Request) -> ServiceState:
    """FastAPI dependency: the state of the app serving ``request``.

    ``async`` only so that FastAPI calls it on the loop: a plain function
    would be sent to a worker thread, about half a millisecond per request.
    """
    state = request.app.state.service
    assert isinstance(state, ServiceState)
    return state
