"""The watch's one warning of the printers whose routing is off, as `sync` ends with one.

A printer's routing is known once it has been asked what it is (a Pi PrusaLink names its
model; a Buddy printer does not, so only the config's `model:` routes it): the first pass
of each printer tells it, in the event that ends the pass (`synced`, `busy`, `failed`,
`unreachable`; a printer that cannot be reached is routed by its config). Once every
watched printer has told it, after the start and after each config reload, one `warning`
event names those whose routing is off and the fix, the words of `sync`'s warning.
"""

from __future__ import annotations

import asyncio

from link_sync.core.routing import routing_off_warning
from link_sync.watch.events import WatchEvent
from link_sync.watch.state import FarmState

#: The events that end a printer's pass (or say it cannot be reached).
_OUTCOMES = frozenset({"synced", "busy", "failed", "unreachable"})
#: The events after which every printer's routing is asked again.
_FRESH_STARTS = frozenset({"started", "config_reloaded"})


class RoutingWarning:
    """Listens to a farm's events; says once per start or reload which printers have
    routing off (nothing when none has)."""

    def __init__(self, farm: FarmState) -> None:
        self.farm = farm
        #: printers whose routing is not known yet since the last start or reload
        self._waiting: set[str] = set()
        #: what the others said, by name
        self._routing: dict[str, str] = {}
        farm.listen(self)

    def __call__(self, event: WatchEvent) -> None:
        if event.event in _FRESH_STARTS and event.printer is None:
            self._waiting = set(self.farm.printers)
            self._routing = {}
            return
        name = event.printer
        if event.event not in _OUTCOMES or name not in self._waiting:
            return
        view = self.farm.printers.get(name)
        routing = event.routing or (view.routing if view is not None else None)
        if routing is None:
            return
        self._waiting.discard(name)
        self._routing[name] = routing
        if self._waiting:
            return
        warnings = routing_off_warning(sorted(self._routing.items()))
        if warnings:
            # after the event being published has reached every listener
            asyncio.get_running_loop().call_soon(self._warn, warnings[0])

    def _warn(self, warning: str) -> None:
        self.farm.event(None, "warning", message=f"warning: {warning}")
