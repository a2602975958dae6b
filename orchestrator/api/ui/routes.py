"""The /ui routes: the login form, the session cookie, the page, its static files and its data.

The page's data routes (`/ui/api/...`) answer only to the session cookie and call the same
operations as the REST API, so the dashboard can do nothing the admin token could not, and shows
nothing the REST API would not. The admin token travels once, in the body of the login form; the
cookie is HttpOnly (no script can read it) and SameSite=Strict (no other site can make the browser
send it), which is also what keeps the form posts of the page from being forged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import structlog
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse

from orchestrator.api.ui import feed, session
from orchestrator.api.ui.kube_scores import kubernetes_scores
from orchestrator.api.ui.snapshot import cluster_view
from orchestrator.autoscaling.model import ECS_NAMESPACE, resource_id_for
from orchestrator.core.context import cluster_name
from orchestrator.core.errors import UnauthorizedError
from orchestrator.operations import Operations
from orchestrator.operations.common import require_cluster
from orchestrator.reconcile.plan import preview
from orchestrator.security.auth import Tokens
from orchestrator.security.secrets import check_token

log = structlog.get_logger("orchestrator.ui")

STATIC = Path(__file__).parent / "static"
# Served by name from this fixed set, so no path from a URL ever reaches the file system.
_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.suffix in _TYPES} if STATIC.is_dir() else {}
# A login form is small; a bigger body is not one.
MAX_LOGIN_BODY = 8192

router = APIRouter(prefix="/ui", include_in_schema=False)
AnyBody = Body(default_factory=dict)


def _ops(request: Request) -> Operations:
    ops: Operations = request.app.state.ops
    return ops


def _signed_in(request: Request) -> bool:
    tokens: Tokens = request.app.state.tokens
    return session.valid(tokens.admin_hash, request.cookies.get(session.COOKIE), _ops(request).ctx.clock.now())


def _session(request: Request) -> None:
    if not _signed_in(request):
        raise UnauthorizedError("Sign in to the dashboard at /ui with the admin token first.")


def _page(name: str, status: int = 200, **fill: str) -> HTMLResponse:
    html = STATIC_FILES[name].read_text(encoding="utf-8")
    for key, value in fill.items():
        html = html.replace("{{" + key + "}}", value)
    # The page is the app; a stale cached copy after an upgrade would talk to routes that changed.
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


# -- the page and the session --------------------------------------------------------------


@router.get("")
@router.get("/")
def page(request: Request) -> Response:
    return _page("index.html") if _signed_in(request) else _page("login.html", error="")


@router.post("/login")
async def login(request: Request) -> Response:
    body = await request.body()
    token = ""
    if len(body) <= MAX_LOGIN_BODY:
        token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
    tokens: Tokens = request.app.state.tokens
    if not token or not check_token(token, tokens.admin_hash):
        log.info("dashboard sign-in refused", client=request.client.host if request.client else None)
        message = "That is not the admin token of this control plane (it is in admin.token in the data dir)."
        return _page("login.html", status=401, error=message)
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(
        session.COOKIE,
        session.issue(tokens.admin_hash, _ops(request).ctx.clock.now()),
        max_age=session.LIFETIME_S,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui", status_code=303)
    response.delete_cookie(session.COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC_FILES.get(name)
    if path is None:
        return Response(f"no such dashboard file: {name}\n", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers={"cache-control": "no-cache"})


# -- the page's data -----------------------------------------------------------------------

api = APIRouter(prefix="/api", dependencies=[Depends(_session)])


def _cluster(ops: Operations, cluster: str | None) -> str:
    return require_cluster(ops.ctx, cluster_name(cluster)).clusterName


@api.get("/state")
def state(cluster: str | None = None, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return cluster_view(ops.ctx.store, _cluster(ops, cluster))


@api.get("/events")
def events(request: Request, cluster: str | None = None, ops: Operations = Depends(_ops)) -> StreamingResponse:
    name = _cluster(ops, cluster)
    app_state = request.app.state
    if getattr(app_state, "ui_feeds", None) is None:
        app_state.ui_feeds = feed.Feeds(anyio.CapacityLimiter(feed.WAITERS))
    stream = feed.cluster_stream(
        ops.ctx.store, lambda: cluster_view(ops.ctx.store, name), request.is_disconnected, app_state.ui_feeds
    )
    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


@api.get("/tasks/{task}")
def task(task: str, cluster: str | None = None, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    """DescribeTasks for one task: what the page shows of a task that has left the live view."""
    return ops.describe_tasks({"cluster": _cluster(ops, cluster), "tasks": [task]})


@api.get("/tasks/{task}/explanation")
def explanation(task: str, cluster: str | None = None, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.explain_task({"cluster": _cluster(ops, cluster), "task": task})


@api.get("/tasks/{task}/kubernetes")
def kubernetes(task: str, cluster: str | None = None, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    """The kubernetes profile's filters and scores for the input this task was placed on (nothing changes)."""
    name = _cluster(ops, cluster)
    found = ops.explain_task({"cluster": name, "task": task})  # resolves the id, or the ECS error
    return kubernetes_scores(ops.ctx, name, found["taskArn"])


@api.get("/services/{name}/metrics")
def metrics(name: str, cluster: str | None = None, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    return ops.service_metrics({"cluster": _cluster(ops, cluster), "service": name, "limit": 120})


@api.get("/services/{name}/autoscaling")
def autoscaling(name: str, cluster: str | None = None, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    """The service's scaling policies and latest activities, in Application Auto Scaling's shapes."""
    resource = resource_id_for(_cluster(ops, cluster), name)
    policies = ops.describe_scaling_policies({"ServiceNamespace": ECS_NAMESPACE, "ResourceId": resource})
    req = {"ServiceNamespace": ECS_NAMESPACE, "ResourceId": resource, "IncludeNotScaledActivities": True}
    activities = ops.describe_scaling_activities({**req, "MaxResults": 20})
    return {"ScalingPolicies": policies["ScalingPolicies"], "ScalingActivities": activities["ScalingActivities"]}


@api.get("/task-definitions")
def task_definitions(family: str, ops: Operations = Depends(_ops)) -> dict[str, Any]:
    arns = ops.list_task_definitions({"familyPrefix": family, "status": "ACTIVE", "maxResults": 100})
    # familyPrefix is a prefix: web-canary is not a revision of web.
    same = [a for a in arns["taskDefinitionArns"] if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == family]
    return {"taskDefinitionArns": same}


@api.post("/services/{name}/plan")
def plan(
    name: str, cluster: str | None = None, body: dict[str, Any] = AnyBody, ops: Operations = Depends(_ops)
) -> dict[str, Any]:
    """The same dry run as POST /v1/clusters/{c}/services/{name}/plan: nothing changes."""
    req = ops.plan_request({**body, "cluster": _cluster(ops, cluster), "service": name})
    c = req.change
    return preview(ops.ctx, c.cluster, c.service, c.state, c.new_deployment, draining=req.draining)


router.include_router(api)
