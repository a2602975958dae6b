"""The dashboard's doors over real HTTP: sign-in, the cookie's flags, the data routes and the SSE feed.

A control plane on loopback with agents on the fake executor: what is checked here is HTTP, not
containers (test_dashboard.py drives a real browser over real Docker).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from structlog.testing import capture_logs

from agent.executor.fake import FakeExecutor
from orchestrator.api.ui import feed, session
from orchestrator.local import LocalCluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("ui-http") / "data", executor_factory=FakeExecutor)
    c.start_agents(3)
    yield c
    c.close()


def signed_in(c: LocalCluster) -> httpx.Client:
    client = httpx.Client(base_url=c.url, timeout=10)
    resp = client.post("/ui/login", data={"token": c.plane.admin_token})
    assert resp.status_code == 303, resp.text
    return client


def test_the_page_asks_for_the_token_first(cluster: LocalCluster) -> None:
    resp = httpx.get(cluster.url + "/ui")
    assert resp.status_code == 200
    assert 'type="password"' in resp.text and 'name="token"' in resp.text
    assert 'action="/ui/login"' in resp.text and 'method="post"' in resp.text


def test_a_wrong_token_is_refused_and_not_logged(cluster: LocalCluster) -> None:
    with capture_logs() as logs:
        resp = httpx.post(cluster.url + "/ui/login", data={"token": "oat_not-the-token"})
    assert resp.status_code == 401
    assert "set-cookie" not in resp.headers
    assert "not the admin token" in resp.text
    assert logs, "a refused sign-in is logged"
    assert "oat_not-the-token" not in repr(logs)


def test_signing_in_sets_an_httponly_strict_cookie_and_no_token_in_urls(cluster: LocalCluster) -> None:
    token = cluster.plane.admin_token
    with capture_logs() as logs:
        resp = httpx.post(cluster.url + "/ui/login", data={"token": token})
    assert resp.status_code == 303
    assert resp.headers["location"] == "/ui"
    cookie = resp.headers["set-cookie"]
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/ui"} <= flags, cookie
    assert token not in cookie
    assert token not in repr(logs)
    client = httpx.Client(base_url=cluster.url, cookies={session.COOKIE: resp.cookies[session.COOKIE]})
    page = client.get("/ui")
    assert page.status_code == 200 and 'id="zones"' in page.text


def test_data_routes_need_the_cookie(cluster: LocalCluster) -> None:
    resp = httpx.get(cluster.url + "/ui/api/state")
    assert resp.status_code == 401
    assert resp.json()["code"] == "UnrecognizedClientException"
    # The admin bearer token is for /v1; the page's routes answer to the session only.
    bearer = httpx.get(cluster.url + "/ui/api/state", headers={"authorization": f"Bearer {cluster.plane.admin_token}"})
    assert bearer.status_code == 401


def test_state_shows_instances_by_zone_and_an_unknown_cluster_is_a_4xx(cluster: LocalCluster) -> None:
    client = signed_in(cluster)
    state = client.get("/ui/api/state").json()
    listed = cluster.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]
    assert {i["arn"] for i in state["instances"]} == {i["containerInstanceArn"] for i in listed}
    assert state["zones"] == ["us-east-1a", "us-east-1b", "us-east-1c"]
    # 2048 CPU units and 2048 MiB per agent, nothing placed yet.
    assert all(i["cpu"] == {"registered": 2048, "used": 0} for i in state["instances"])
    missing = client.get("/ui/api/state", params={"cluster": "nope"})
    # As on /v1: ClusterNotFoundException is a 404 here.
    assert missing.status_code == 404
    assert missing.json()["code"] == "ClusterNotFoundException"


def test_static_files_are_served_by_name_only(cluster: LocalCluster) -> None:
    assert httpx.get(cluster.url + "/ui/static/app.js").status_code == 200
    assert httpx.get(cluster.url + "/ui/static/chart.umd.min.js").status_code == 200
    assert httpx.get(cluster.url + "/ui/static/..%2F__init__.py").status_code == 404
    assert httpx.get(cluster.url + "/ui/static/VENDORED.md").status_code == 404


def read_state_frames(client: httpx.Client, want: int) -> Iterator[dict]:
    """The first `want` state frames of the event stream."""
    with client.stream("GET", "/ui/api/events") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        event, seen = "", 0
        for line in resp.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "state":
                yield json.loads(line[6:])
                seen += 1
                if seen == want:
                    return


def test_the_event_stream_sends_the_view_again_after_a_change(cluster: LocalCluster) -> None:
    client = signed_in(cluster)
    frames = read_state_frames(client, 2)
    first = next(frames)
    assert "feed" not in {s["name"] for s in first["services"]}
    td = cluster.register("feed")
    cluster.api(
        "POST", "/v1/clusters/default/services", {"serviceName": "feed", "taskDefinition": td, "desiredCount": 1}
    )
    second = next(frames)
    assert "feed" in {s["name"] for s in second["services"]}
    frames.close()


def test_plan_route_is_the_plan_operation(cluster: LocalCluster) -> None:
    td = cluster.register("planned")
    cluster.api(
        "POST", "/v1/clusters/default/services", {"serviceName": "planned", "taskDefinition": td, "desiredCount": 0}
    )
    client = signed_in(cluster)
    body = {"desiredCount": 3, "schedulerProfile": "kubernetes"}
    via_ui = client.post("/ui/api/services/planned/plan", json=body).json()
    via_rest = cluster.api("POST", "/v1/clusters/default/services/planned/plan", body)
    assert via_ui == via_rest
    assert sum(len(step["starts"]) for step in via_ui["steps"]) == 3
    bad = client.post("/ui/api/services/planned/plan", json={"desiredCount": -1})
    assert bad.status_code == 400


def test_streams_end_when_their_clients_go_and_do_not_starve_the_api(cluster: LocalCluster) -> None:
    """More open pages than the feed's limiter has slots (32): the REST API still answers, every
    page still gets its first frame, and closing them ends their streams on the server."""
    client = signed_in(cluster)
    pages = [read_state_frames(client, 1) for _ in range(feed.WAITERS + 8)]
    firsts = [next(p) for p in pages]
    assert all(f["cluster"] == "default" for f in firsts)
    feeds = cluster.plane.app.state.ui_feeds
    assert feeds.open == len(pages)
    assert len(cluster.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]) == 3
    for p in pages:
        p.close()
    wait_until(lambda: feeds.open == 0, 3 * feed.WAIT_SLICE_S + 5, f"{feeds.open} streams still open")


def wait_until(cond: Callable[[], bool], seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"after {seconds:g} s: {what}", pytrace=False)
        time.sleep(0.1)


@pytest.fixture(scope="module")
def uneven(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three instances of different shapes: two in us-east-1a, one in us-east-1b."""
    c = LocalCluster(tmp_path_factory.mktemp("ui-kube") / "data", executor_factory=FakeExecutor)
    c.start_agent("agent-1", "us-east-1a", cpu=2048, memory=2048)
    c.start_agent("agent-2", "us-east-1a", cpu=4096, memory=1024)
    c.start_agent("agent-3", "us-east-1b", cpu=1024, memory=4096)
    yield c
    c.close()


def test_kubernetes_scores_are_computed_for_the_input_the_task_was_placed_on(uneven: LocalCluster) -> None:
    td = uneven.register("scored", cpu=512, memory=256)
    body = {"serviceName": "scored", "taskDefinition": td, "desiredCount": 2}
    uneven.api("POST", "/v1/clusters/default/services", body)
    wait_until(lambda: len(uneven.running("scored")) == 2, 20, "2 RUNNING tasks of scored")
    instances = uneven.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]
    name = {
        i["containerInstanceArn"].rsplit("/", 1)[-1]: next(
            a["value"] for a in i["attributes"] if a["name"] == "orch.name"
        )
        for i in instances
    }
    client = signed_in(uneven)
    answers = {}
    for t in uneven.tasks("scored"):
        answers[t["taskArn"]] = client.get(f"/ui/api/tasks/{t['taskArn'].rsplit('/', 1)[-1]}/kubernetes").json()
    first, second = sorted(answers.values(), key=lambda a: a["tasksThen"])
    # Scores with the pod (512 units, 256 MiB) added, kube's integer arithmetic:
    #   agent-1 2048/2048: LeastAllocated (1536*100//2048=75 + 1792*100//2048=87)//2 = 81;
    #                      Balanced: requested 0.25 and 0.125, std 0.0625 -> int(93.75) = 93; total 174
    #   agent-2 4096/1024: (3584*100//4096=87 + 768*100//1024=75)//2 = 81; 0.125 and 0.25 -> 93; total 174
    #   agent-3 1024/4096: (512*100//1024=50 + 3840*100//4096=93)//2 = 71; 0.5 and 0.0625,
    #                      std 0.21875 -> int(78.125) = 78; total 149
    empty = {"agent-1": (81, 93, 174), "agent-2": (81, 93, 174), "agent-3": (71, 78, 149)}
    # The first task saw an empty cluster, so every node scores.
    assert first["tasksThen"] == 0 and first["inputMatches"] is True
    got = {
        name[s["instance"]]: (s["least_allocated"], s["balanced_allocation"], s["total"])
        for s in first["explanation"]["scores"]
    }
    assert got == empty
    # The second saw the first: its zone has 1 pod and the other 0, so a pod there would make a skew of 2 > maxSkew 1.
    assert second["tasksThen"] == 1 and second["inputMatches"] is True
    zone_of_first = next(i["zone"] for i in second["instances"] if i["arn"] == first["placedOnArn"])
    scored = {name[s["instance"]] for s in second["explanation"]["scores"]}
    dropped = {
        name[e["instance"]]
        for f in second["explanation"]["filters"]
        if f["filter"] == "topologySpread"
        for e in f["examples"]
    }
    in_zone = {name[i["id"]] for i in second["instances"] if i["zone"] == zone_of_first}
    assert dropped == in_zone and scored == set(empty) - in_zone
    for s in second["explanation"]["scores"]:
        assert (s["least_allocated"], s["balanced_allocation"], s["total"]) == empty[name[s["instance"]]]
    # An unknown task is ECS's error, not a 500.
    missing = client.get("/ui/api/tasks/0123456789abcdef/kubernetes")
    assert missing.status_code == 400 and missing.json()["code"] == "InvalidParameterException"


def test_a_task_the_kubernetes_profile_placed_is_scored_again_to_the_same_node(uneven: LocalCluster) -> None:
    td = uneven.register("kubed", cpu=256, memory=128)
    body = {"serviceName": "kubed", "taskDefinition": td, "desiredCount": 2, "schedulerProfile": "kubernetes"}
    uneven.api("POST", "/v1/clusters/default/services", body)
    wait_until(lambda: len(uneven.running("kubed")) == 2, 20, "2 RUNNING tasks of kubed")
    client = signed_in(uneven)
    for t in uneven.tasks("kubed"):
        got = client.get(f"/ui/api/tasks/{t['taskArn'].rsplit('/', 1)[-1]}/kubernetes").json()
        assert got["recordedProfile"] == "kubernetes"
        # The rebuilt input holds the scored service's 2 tasks (and the other kubed task if it came first).
        assert got["tasksThen"] in (2, 3)
        assert got["inputMatches"] is True
        assert got["explanation"]["winner"]["arn"] == t["containerInstanceArn"]
