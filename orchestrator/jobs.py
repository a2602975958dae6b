"""The control plane's background work: the event-driven reconcile loop and the periodic jobs.

This is the only module that imports apscheduler. The service controller runs in its own thread,
woken by every store commit (the change feed) and at least once a second for its timers; the
instance controller and any other periodic job (autoscaling) run on apscheduler's intervals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from orchestrator.core.context import Context
from orchestrator.reconcile.daemons import DaemonController
from orchestrator.reconcile.instances import InstanceController
from orchestrator.reconcile.services import ServiceController

log = structlog.get_logger("orchestrator.jobs")


class Background:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.services = ServiceController(ctx)
        self.daemons = DaemonController(ctx)
        self.instances = InstanceController(ctx)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="service-controller", daemon=True)
        self._scheduler = BackgroundScheduler(daemon=True)
        self._scheduler.add_job(
            self._guard(self.instances.reconcile),
            "interval",
            seconds=1.0,
            id="instances",
            max_instances=1,
            coalesce=True,
        )

    def add_periodic(self, name: str, seconds: float, fn: Callable[[], None]) -> None:
        self._scheduler.add_job(self._guard(fn), "interval", seconds=seconds, id=name, max_instances=1, coalesce=True)

    @staticmethod
    def _guard(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception:
                log.exception("background job failed", job=getattr(fn, "__qualname__", str(fn)))

        return run

    def start(self) -> None:
        self._thread.start()
        self._scheduler.start()

    def stop(self) -> None:
        self._stop.set()
        with self.ctx.store.changed:
            self.ctx.store.changed.notify_all()
        self._thread.join(timeout=5)
        self._scheduler.shutdown(wait=False)

    def _loop(self) -> None:
        store = self.ctx.store
        seen = [-1]
        while not self._stop.is_set():
            store.wait(lambda: store.seq != seen[0] or self._stop.is_set(), timeout=1.0)
            if self._stop.is_set():
                return
            # Read seq before the pass: changes made by the pass itself wake one more pass,
            # which finds nothing to do (reconcilers are idempotent) and then sleeps.
            seen[0] = store.seq
            try:
                self.services.reconcile_all()
            except Exception:
                log.exception("service reconcile pass failed")
            try:
                self.daemons.reconcile_all()
            except Exception:
                log.exception("daemon reconcile pass failed")
