"""Routes the node agents call. Registration takes the join token; everything else the
per-instance credential, which confines an agent to its own container instance.

Every body is parsed into its model in `agent_wire` first (typed, bounded, strict), and every
credentialed call counts against that credential's rate limit, so one agent can neither break
the store nor take the control plane's time from the others."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from orchestrator.api import agent_wire as wire
from orchestrator.api.answer_gather import AnswerGather
from orchestrator.api.limits import PARSED_BODY
from orchestrator.core import bounds
from orchestrator.core.bounds import INT64_MAX
from orchestrator.core.errors import InvalidParameterException, ResourceNotFoundException, ThrottlingException
from orchestrator.core.store import Store, instance_key
from orchestrator.operations import Operations
from orchestrator.operations.exec import MAX_WAIT_S as EXEC_MAX_WAIT_S
from orchestrator.operations.exec import ExecHub
from orchestrator.security.auth import authenticate_instance, require_join

router = APIRouter(prefix="/v1/agent", tags=["agents"])
ASSIGNMENTS_PATH = "/v1/agent/assignments"  # served by agent_polls ahead of the router
DEFAULT_POLL_WAIT_S = 5.0


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


def _instance(request: Request) -> str:
    arn = authenticate_instance(_ops(request).ctx.store, request.headers.get("authorization"))
    if not request.app.state.agent_rate.allow(arn):
        raise ThrottlingException("Too many requests with this instance credential; slow down and retry.")
    return arn


@router.get("/ca", response_class=PlainTextResponse)
def ca_certificate(request: Request) -> str:
    """The CA this control plane made (public, no token): an agent pins it by the fingerprint its
    join token carries before trusting it."""
    tls = request.app.state.tls
    if tls is None or tls.ca is None:
        raise ResourceNotFoundException("This control plane has no CA of its own (no TLS, or --tls-cert).")
    return str(tls.ca.read_text())


@router.post("/register")
def register(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    token = body.get("joinToken")
    if not isinstance(token, str):
        raise InvalidParameterException("joinToken is required: copy join.token from the server's data dir.")
    registration = wire.parse(wire.Registration, body)
    ctx = _ops(request).ctx
    require_join(request.app.state.tokens, registration.joinToken, ctx.store, ctx.clock.now())
    return _ops(request).register_instance({k: v for k, v in wire.plain(registration).items() if k != "joinToken"})


@router.get("/assignments")
async def assignments(request: Request, since: int = 0, wait: float = DEFAULT_POLL_WAIT_S) -> dict[str, Any]:
    return await poll_assignments(request, since, wait)


async def poll_assignments(request: Request, since: int, wait: float) -> dict[str, Any]:
    """The instance's tasks once they change after `since`, or "unchanged" after `wait` seconds."""
    # The long-poll waits on the event loop, not in a worker thread: a thousand agents polling
    # would otherwise take every thread the API has. The store's reads and writes still run in threads.
    if not 0 <= since <= INT64_MAX:
        raise InvalidParameterException("since must be a change number from 0 to 2^63-1.")
    if not math.isfinite(wait):
        raise InvalidParameterException("wait must be a finite number of seconds.")
    ops = _ops(request)

    def ask() -> tuple[str, float, float]:
        # One trip to a worker thread for both: each trip costs the event loop, which every agent shares.
        arn = _instance(request)
        return (arn, *ops.ask_assignments(arn, wait))

    arn, wait_s, asked_at = await run_in_threadpool(ask)
    key = [instance_key(arn)]
    store = ops.ctx.store
    await wait_for_change(store, key, since, wait_s)
    if store.latest(key) > since:
        gather: AnswerGather = request.app.state.answer_gather
        await gather.wait()
    seq = store.latest(key)
    return await run_in_threadpool(ops.answer_assignments, arn, since, seq, asked_at)


def _waker(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> Callable[[], None]:
    """A callback any thread may call to set `event` on `loop`."""

    def wake() -> None:
        # A closed loop (the server is stopping) has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)

    return wake


async def wait_for_change(store: Store, keys: list[str], since: int, timeout: float) -> None:
    """Until a commit after `since` touches one of `keys`, or `timeout` seconds."""
    changed = asyncio.Event()
    # The feed's lock is never held through a commit, so this waits on the loop for microseconds at most.
    end = store.watch(keys, since, _waker(asyncio.get_running_loop(), changed))
    if end is None:
        return
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)
    finally:
        end()


async def wait_for_exec(hub: ExecHub, instance_arn: str, timeout: float) -> None:
    """Until a session is opened for the instance, the hub shuts down, or `timeout` seconds."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()
    end = hub.watch(_waker(loop, changed))  # the hub's lock guards memory only: held for microseconds
    deadline = loop.time() + max(0.0, timeout)
    try:
        while True:
            changed.clear()  # before the check: a wake in between sets it again
            left = deadline - loop.time()
            if hub.closing or hub.has_pending(instance_arn) or left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), left)
    finally:
        end()


@router.post("/task-states")
def task_states(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    arn = _instance(request)
    reports = wire.parse(wire.TaskStates, body)
    return _ops(request).report_task_states(arn, [wire.plain(r) for r in reports.tasks])


@router.post("/metrics")
def metrics(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    arn = _instance(request)
    samples = wire.parse(wire.Metrics, body)
    return _ops(request).report_metrics(arn, [wire.plain(s) for s in samples.samples])


@router.post("/logs")
async def logs(request: Request) -> dict[str, Any]:
    # A batch is up to 20,000 events: it is taken as the bounds middleware parsed and checked it,
    # not parsed and walked again by FastAPI.
    body = request.scope.get("state", {}).get(PARSED_BODY)
    if body is None:  # not JSON by its content type, or empty
        raw = await request.body()
        body = bounds.loads(raw) if raw else {}
    streams = body.get("streams") if isinstance(body, dict) else None
    if not isinstance(streams, list):
        raise InvalidParameterException("streams must be a list of a container's events each.")
    arn = await run_in_threadpool(_instance, request)
    return await run_in_threadpool(_ops(request).ingest_logs, arn, streams)


@router.post("/task-secrets")
def task_secrets(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """A starting task's secret environment and registry credentials, for the agent the task is placed on."""
    task_arn = body.get("taskArn")
    if not isinstance(task_arn, str) or not task_arn:
        raise InvalidParameterException("taskArn is required.")
    return _ops(request).resolve_task_secrets(_instance(request), task_arn)


@router.post("/task-credentials")
def task_credentials(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """A fresh role session for a task with a taskRoleArn, for the agent the task is placed on (it serves
    the key pair to the task's containers; the secret and token appear in this response only)."""
    task_arn = body.get("taskArn")
    if not isinstance(task_arn, str) or not task_arn:
        raise InvalidParameterException("taskArn is required.")
    return _ops(request).issue_task_credentials(_instance(request), task_arn)


@router.post("/execution-credentials")
def execution_credentials(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """A fresh execution role session for a task with an executionRoleArn, for the agent the task is placed
    on (it reads the task's secrets with it and its log streams carry its key id; the secret and token
    appear in this response only), with the task's secret references parsed."""
    task_arn = body.get("taskArn")
    if not isinstance(task_arn, str) or not task_arn:
        raise InvalidParameterException("taskArn is required.")
    return _ops(request).issue_execution_credentials(_instance(request), task_arn)


@router.get("/exec")
async def exec_sessions(request: Request, wait: float = 10.0) -> dict[str, Any]:
    """Exec sessions opened for this instance's tasks since the last call (a long-poll on the event
    loop, like the assignments poll: every agent keeps one open)."""
    if not math.isfinite(wait):
        raise InvalidParameterException("wait must be a finite number of seconds.")
    ops = _ops(request)
    arn = await run_in_threadpool(_instance, request)
    # As long as an assignments poll may be (a simulated fleet's are a minute), at least EXEC_MAX_WAIT_S.
    await wait_for_exec(ops.exec_hub, arn, min(wait, max(EXEC_MAX_WAIT_S, ops.ctx.settings.agent_poll_max_s)))
    return {"sessions": ops.exec_hub.claim(arn)}


@router.post("/exec/{session_id}/output")
def exec_output(request: Request, session_id: str, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    return _ops(request).exec_hub.agent_output(_instance(request), session_id, body)


@router.get("/exec/{session_id}/input")
def exec_input(request: Request, session_id: str, wait: float = 10.0) -> dict[str, Any]:
    return _ops(request).exec_hub.agent_input(_instance(request), session_id, wait)
