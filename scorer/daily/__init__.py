"""The daily digest: one config file, papers fetched and scored, digests sent once per target.

:func:`load_config` reads and checks a run's TOML file (:class:`DailyConfig`);
:func:`run_daily` does fetch → dedup → prefilter → score → digest → deliver
and returns a :class:`DailyReport`; :class:`DeliveryState` is the SQLite file
that remembers what each target was sent. ``scorer run CONFIG.toml`` is the
command.
"""

import typing as _typing

from scorer._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from scorer.daily._config import DailyConfig, load_config
    from scorer.daily._messages import render_email_html
    from scorer.daily._run import DailyReport, Delivery, run_daily
    from scorer.daily._state import DeliveryState

__all__ = [
    "DailyConfig",
    "DailyReport",
    "Delivery",
    "DeliveryState",
    "load_config",
    "render_email_html",
    "run_daily",
]

__getattr__, __dir__ = _lazy_exports(
    __name__,
    {
        "scorer.daily._config": ("DailyConfig", "load_config"),
        "scorer.daily._messages": ("render_email_html",),
        "scorer.daily._run": ("DailyReport", "Delivery", "run_daily"),
        "scorer.daily._state": ("DeliveryState",),
    },
)
