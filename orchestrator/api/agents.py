"""Routes the node agents call. Registration takes the join token; everything else the
per-instance credential, which confines an agent to its own container instance."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool

from orchestrator.core.errors import InvalidParameterException
from orchestrator.core.store import Store, instance_key
from orchestrator.operations import Operations
from orchestrator.security.auth import authenticate_instance, require_join

router = APIRouter(prefix="/v1/agent", tags=["agents"])


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


def _instance(request: Request) -> str:
    return authenticate_instance(_ops(request).ctx.store, request.headers.get("authorization"))


@router.post("/register")
def register(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    token = body.get("joinToken")
    if not isinstance(token, str):
        raise InvalidParameterException("joinToken is required: copy join.token from the server's data dir.")
    require_join(request.app.state.tokens, token)
    return _ops(request).register_instance({k: v for k, v in body.items() if k != "joinToken"})


@router.get("/assignments")
async def assignments(request: Request, since: int = 0, wait: float = 5.0) -> dict[str, Any]:
    # The long-poll waits on the event loop, not in a worker thread: a thousand agents polling
    # would otherwise take every thread the API has. The store's reads and writes still run in threads.
    ops = _ops(request)
    arn = await run_in_threadpool(_instance, request)
    wait_s, asked_at = await run_in_threadpool(ops.ask_assignments, arn, wait)
    key = [instance_key(arn)]
    await wait_for_change(ops.ctx.store, key, since, wait_s)
    return await run_in_threadpool(lambda: ops.answer_assignments(arn, since, ops.ctx.store.latest(key), asked_at))


async def wait_for_change(store: Store, keys: list[str], since: int, timeout: float) -> None:
    """Until a commit after `since` touches one of `keys`, or `timeout` seconds."""
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def wake() -> None:
        # A closed loop (the server is stopping) has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(changed.set)

    # The store's lock is held through every write transaction: take it off the event loop.
    end = await run_in_threadpool(store.watch, keys, since, wake)
    if end is None:
        return
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)
    finally:
        await run_in_threadpool(end)


@router.post("/task-states")
def task_states(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    reports = body.get("tasks")
    if not isinstance(reports, list):
        raise InvalidParameterException("tasks must be a list of task state reports.")
    return _ops(request).report_task_states(_instance(request), reports)


@router.post("/metrics")
def metrics(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    samples = body.get("samples")
    if not isinstance(samples, list):
        raise InvalidParameterException("samples must be a list.")
    return _ops(request).report_metrics(_instance(request), samples)


@router.post("/logs")
def logs(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    streams = body.get("streams")
    if not isinstance(streams, list):
        raise InvalidParameterException("streams must be a list of a container's events each.")
    return _ops(request).ingest_logs(_instance(request), streams)


@router.post("/task-secrets")
def task_secrets(request: Request, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    """A starting task's secret environment and registry credentials, for the agent the task is placed on."""
    task_arn = body.get("taskArn")
    if not isinstance(task_arn, str) or not task_arn:
        raise InvalidParameterException("taskArn is required.")
    return _ops(request).resolve_task_secrets(_instance(request), task_arn)


@router.get("/exec")
def exec_sessions(request: Request, wait: float = 10.0) -> dict[str, Any]:
    """Exec sessions opened for this instance's tasks since the last call (a long-poll)."""
    ops = _ops(request)
    return {"sessions": ops.exec_hub.claim(_instance(request), wait)}


@router.post("/exec/{session_id}/output")
def exec_output(request: Request, session_id: str, body: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:
    return _ops(request).exec_hub.agent_output(_instance(request), session_id, body)


@router.get("/exec/{session_id}/input")
def exec_input(request: Request, session_id: str, wait: float = 10.0) -> dict[str, Any]:
    return _ops(request).exec_hub.agent_input(_instance(request), session_id, wait)
