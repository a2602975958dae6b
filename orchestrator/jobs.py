"""The control plane's background work: the event-driven reconcile loop and the periodic jobs.

This is the only module that imports apscheduler. The service controller runs in its own thread
and reconciles only what changed: the store's change feed names the keys each commit touched, a
service key dirties that service and a cluster key (an instance changed, or a task stopped and
freed its resources) the cluster's services that are not steady and those with tasks on the
changed instances. Timers need no commit, so services that are
not steady (rolling out, in a grace period, throttled) are also reconciled every
`service_timer_s`, and every service every `service_sweep_s` as a safety net (or, when a sweep
takes longer than 1/SWEEP_SHARE of that, SWEEP_SHARE times its own length: with ten thousand
services a sweep takes 1.5 s, and the net must not become the idle control plane's main work;
one pass in two and a half minutes still catches what the change feed missed). Start-up, or a
loop so far behind that the feed cannot name the changes, reconciles everything. The instance
controller and any other periodic job (autoscaling) run on apscheduler's intervals.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Collection
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from orchestrator.core.context import Context
from orchestrator.core.service_state import KIND as SERVICE_STATE
from orchestrator.core.store import SERVICE_ROWS_KEY, Changes
from orchestrator.operations.scheduled_actions import parse_schedule
from orchestrator.reconcile.daemons import DaemonController
from orchestrator.reconcile.instances import InstanceController
from orchestrator.reconcile.services import ServiceController

log = structlog.get_logger("orchestrator.jobs")
SWEEP_SHARE = 100  # the safety-net sweep takes at most 1/100 of the loop's time
TIMED_KEY = f"doc:{SERVICE_STATE}"  # what a service state's write touches
SERVICE_KEY_PREFIX = "service:"
INSTANCE_KEY_PREFIX = "instance:"

ServiceRef = tuple[str, str]  # (cluster, service name)
RECONCILED = ("ACTIVE", "DRAINING")


def dirty_services(keys: Collection[str]) -> tuple[set[ServiceRef], set[str]]:
    """(services named by the keys, clusters whose every service is concerned)."""
    services: set[ServiceRef] = set()
    clusters: set[str] = set()
    for key in keys:
        kind, _, rest = key.partition(":")
        if kind == "service":
            cluster, _, name = rest.partition("/")
            services.add((cluster, name))
        elif kind == "cluster":
            clusters.add(rest)
    return services, clusters


class Background:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.services = ServiceController(ctx)
        self.instances = InstanceController(ctx)
        self.daemons = DaemonController(ctx)
        self._stop = threading.Event()
        self._timed_refs: set[ServiceRef] | None = None  # see _timed
        self._daemon_refs: list[ServiceRef] | None = None  # see _reconcile_daemons
        self.parked_at: int | None = None  # the change the loop waits after; None while it works
        self.sweeps = 0  # safety-net sweeps finished (a benchmark measures from one to the next)
        # Stepped (the simulator): each pass waits for `step`, so the passes see the same changes
        # in every run, not whatever the agents' threads had reported by the time one began.
        self._stepped = threading.Event()
        self._permit = threading.Semaphore(0)
        self._passed = threading.Event()
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

    def remove_periodic(self, name: str) -> None:
        """Take a periodic job off the real-time schedule (the simulator runs it on its own clock)."""
        self._scheduler.remove_job(name)

    def add_scheduled_actions(
        self, actions: Callable[[], list[tuple[str, dict[str, Any]]]], run: Callable[[str], bool]
    ) -> None:
        """Carry out Application Auto Scaling's scheduled actions on this scheduler."""
        jobs = ScheduledActionJobs(self._scheduler, actions, run)
        self.add_periodic("scheduled-actions", 1.0, jobs.sync)

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
        self.ctx.store.nudge("background:stop")
        self._permit.release()
        self._thread.join(timeout=5)
        # A job still running would find the store closed under it (the caller closes it next).
        self._scheduler.shutdown(wait=True)

    def _loop(self) -> None:
        clock, settings = self.ctx.clock, self.ctx.settings
        since = -1  # answers at once with "everything": the start-up pass
        next_timers = next_sweep = clock.monotonic()
        while not self._stop.is_set():
            self.parked_at = since
            self._passed.set()
            changes = self._next_changes(since, timeout=max(0.0, next_timers - clock.monotonic()))
            self.parked_at = None
            if self._stop.is_set():
                return
            # Taken before the passes: what the passes write comes back as changes and is looked
            # at once more (idempotent passes find nothing to do and write nothing).
            since = changes.seq
            now = clock.monotonic()
            swept = False
            try:
                if changes.keys is None or now >= next_sweep:
                    swept = True
                    self._timed_refs = self._daemon_refs = None
                    next_timers = now + settings.service_timer_s
                    self.services.reconcile_all()
                    self.sweeps += 1
                    took = clock.monotonic() - now
                    next_sweep = now + max(settings.service_sweep_s, took + SWEEP_SHARE * took)
                    continue
                if any(k == TIMED_KEY or k.startswith(SERVICE_KEY_PREFIX) for k in changes.keys):
                    self._timed_refs = None
                if SERVICE_ROWS_KEY in changes.keys:
                    self._daemon_refs = None
                due = self._touched(changes.keys)
                if now >= next_timers:
                    next_timers = now + settings.service_timer_s
                    due |= self._timed()
                for cluster, name in sorted(due):
                    self._reconcile(cluster, name)
            except Exception:
                log.exception("service reconcile pass failed")
            finally:
                if swept or changes.keys:
                    self._reconcile_daemons()

    def stepped(self) -> None:
        """From now on run a pass only when `step` asks for one (the simulator settles its agents
        between passes)."""
        self._stepped.set()

    def step(self) -> None:
        """Run one pass over whatever changed since the last one, and return once it is done."""
        self._passed.clear()
        self._permit.release()
        while not self._passed.wait(timeout=1.0):
            if not self._thread.is_alive():
                raise RuntimeError("the service controller's loop has stopped")

    def _next_changes(self, since: int, timeout: float) -> Changes:
        store = self.ctx.store
        if not self._stepped.is_set():
            changes = store.wait_changes(since, timeout)
            if not self._stepped.is_set():
                return changes
        self._permit.acquire()
        return store.wait_changes(since, timeout=0.0)

    def _reconcile_daemons(self) -> None:
        # DAEMON services are few, and an instance joining, draining or leaving concerns all of
        # them, so any commit (and the sweep) gets one pass over every daemon service.
        # Which services are DAEMON ones is read again only after a service row was written (or on
        # the sweep): with ten thousand services, picking them out of the rows on every commit was
        # an idle control plane's largest cost.
        try:
            if self._daemon_refs is None:
                with self.ctx.store.read() as s:
                    self._daemon_refs = s.service_refs(daemon=True)
            self.daemons.reconcile_all(self._daemon_refs)
        except Exception:
            log.exception("daemon reconcile pass failed")

    def _reconcile(self, cluster: str, name: str) -> None:
        try:
            self.services.reconcile(cluster, name)
        except Exception:  # one broken service must not stop the others
            log.exception("service reconcile failed", cluster=cluster, service=name)

    def _touched(self, keys: Collection[str]) -> set[ServiceRef]:
        """The services the keys concern. A cluster key (an instance changed, or a task stopped and
        freed its resources) concerns the cluster's services that are not steady (they may place or
        move a task now) and those with a task on a changed instance (it may be draining or gone);
        a steady service elsewhere in the cluster has nothing to do, as on ECS, which does not
        rebalance: with ten thousand services, one agent's reconnection was ten thousand passes."""
        services, clusters = dirty_services(keys)
        if clusters:
            store = self.ctx.store
            changed = [k[len(INSTANCE_KEY_PREFIX) :] for k in keys if k.startswith(INSTANCE_KEY_PREFIX)]
            services |= {ref for ref in self._timed() if ref[0] in clusters}
            with store.read():
                services |= {ref for ref in store.services_with_tasks_on(changed) if ref[0] in clusters}
        return services

    def _timed(self) -> set[ServiceRef]:
        """Services with a timer that may run out: every one that is not steady. Read again only
        after a service or a service state changed (the loop clears it then): even from the columns
        and SQLite's JSON functions, ten thousand of each every second was an idle control
        plane's main work."""
        if self._timed_refs is None:
            store = self.ctx.store
            with store.read():
                steady = store.doc_keys_where_true(SERVICE_STATE, "steady")
                refs = store.service_refs()
            self._timed_refs = {(cluster, name) for cluster, name in refs if f"{cluster}/{name}" not in steady}
        return set(self._timed_refs)


class ScheduledActionJobs:
    """Application Auto Scaling's scheduled actions as apscheduler jobs, kept in step with the store.

    `sync` runs every second: each stored action becomes one job (date, interval or cron trigger
    in the action's time zone, bounded by its StartTime/EndTime) that calls `run(key)` when due;
    a changed schedule replaces its job, a deleted action removes it.
    """

    def __init__(
        self,
        scheduler: BackgroundScheduler,
        actions: Callable[[], list[tuple[str, dict[str, Any]]]],
        run: Callable[[str], bool],
    ) -> None:
        self.scheduler = scheduler
        self.actions = actions
        self.run = run
        self.fingerprints: dict[str, tuple[Any, ...]] = {}

    def sync(self) -> None:
        current = {f"scheduled:{key}": doc for key, doc in self.actions()}
        for job_id in list(self.fingerprints):
            if job_id not in current:
                self._remove(job_id)
        for job_id, doc in current.items():
            fingerprint = (doc.get("Schedule"), doc.get("Timezone"), doc.get("StartTime"), doc.get("EndTime"))
            if self.fingerprints.get(job_id) == fingerprint:
                continue
            self._remove(job_id)
            trigger = trigger_for(doc)
            if trigger is None:
                continue
            self.scheduler.add_job(
                Background._guard(self._runner(job_id[len("scheduled:") :])),
                trigger,
                id=job_id,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=60,
            )
            self.fingerprints[job_id] = fingerprint

    def _runner(self, key: str) -> Callable[[], None]:
        def fire() -> None:
            log.info("scheduled action due", key=key, ran=self.run(key))

        return fire

    def _remove(self, job_id: str) -> None:
        self.fingerprints.pop(job_id, None)
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)


# AWS cron's day-of-week counts 1-7 from Sunday; apscheduler's names are unambiguous.
_AWS_DAYS = {"1": "sun", "2": "mon", "3": "tue", "4": "wed", "5": "thu", "6": "fri", "7": "sat"}


def _weekday(field: str) -> str:
    if field == "?":
        return "*"
    return re.sub(r"[1-7]", lambda m: _AWS_DAYS[m.group(0)], field).lower()


def trigger_for(doc: dict[str, Any]) -> Any:
    """The apscheduler trigger of a scheduled action, or None if its window is already over."""
    parsed = parse_schedule(str(doc["Schedule"]))
    zone = ZoneInfo(doc.get("Timezone") or "UTC")
    start = dt.datetime.fromtimestamp(doc["StartTime"], zone) if doc.get("StartTime") else None
    end = dt.datetime.fromtimestamp(doc["EndTime"], zone) if doc.get("EndTime") else None
    if "at" in parsed:
        return DateTrigger(run_date=dt.datetime.fromisoformat(parsed["at"]).replace(tzinfo=zone))
    if "rate" in parsed:
        n, unit = parsed["rate"]
        first = start or dt.datetime.fromtimestamp(doc["CreationTime"], zone)
        return IntervalTrigger(**{unit: n}, start_date=first, end_date=end, timezone=zone)
    minute, hour, day, month, weekday, year = parsed["cron"]
    return CronTrigger(
        minute=minute,
        hour=hour,
        day="*" if day == "?" else day,
        month=month.lower(),
        day_of_week=_weekday(weekday),
        year=year,
        start_date=start,
        end_date=end,
        timezone=zone,
    )
