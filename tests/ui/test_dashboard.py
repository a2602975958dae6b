"""The dashboard in a real headless Chromium over a real cluster: 3 Docker agents in 3 zones.

One cluster for the module, the tests in the order a teacher would show things: the cluster,
why a task went where it did, a `docker kill` and its replacement, a rollout, and a plan. Every
wait has a generous deadline and says what it was waiting for; none asserts a speed. Each test
leaves a screenshot in tests/ui/artifacts/.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from agent.executor.base import LABEL_TASK
from agent.executor.docker import DockerExecutor
from orchestrator.local import LocalCluster

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
WEB = json.loads((REPO / "examples" / "01-web" / "web.json").read_text())
DESIRED = 3
T = TypeVar("T")

# The rows of the kubernetes column of the task panel, read in one step.
KUBE_ROWS = (
    "return [...document.querySelectorAll('#detail [data-kube-panel] [data-kube-instance-arn]')]"
    ".map(e => ({arn: e.dataset.kubeInstanceArn, score: e.dataset.kubeScore, filter: e.dataset.kubeFilter,"
    " text: e.innerText}));"
)
VISIBLE = "const vis = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };"


def wait_for(what: str, cond: Callable[[], T], seconds: float) -> T:
    """cond()'s first truthy value within `seconds`, else a failure that names what never happened."""
    end = time.monotonic() + seconds
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"after {seconds:g} s: {what}", pytrace=False)
        time.sleep(0.2)


def visible(d: WebDriver, attr: str) -> list[str]:
    """The `attr` values of the visible elements that carry it, in page order."""
    script = (
        VISIBLE + f"return [...document.querySelectorAll('[{attr}]')].filter(vis).map(e => e.getAttribute('{attr}'));"
    )
    values: list[str] = d.execute_script(script)
    return values


def chip(d: WebDriver, arn: str) -> dict[str, Any] | None:
    """The visible chip of a task: its attributes and text, or None."""
    script = VISIBLE + (
        "const e = [...document.querySelectorAll('[data-task-arn]')].filter(vis)"
        ".find(e => e.getAttribute('data-task-arn') === arguments[0]);"
        "return e ? {status: e.dataset.lastStatus, deployment: e.dataset.deployment, text: e.innerText,"
        " cls: e.className} : null;"
    )
    found: dict[str, Any] | None = d.execute_script(script, arn)
    return found


def texts(d: WebDriver, selector: str) -> list[str]:
    """The visible text of each element matching `selector`, read in one step so a redraw cannot stale it."""
    script = "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText);"
    found: list[str] = d.execute_script(script, selector)
    return found


def running(c: LocalCluster) -> set[str]:
    return {t["taskArn"] for t in c.running("web")}


@pytest.fixture(scope="module")
def web(ui_cluster: LocalCluster) -> LocalCluster:
    """Service web: examples/01-web (busybox httpd on a dynamic host port), DESIRED tasks, all RUNNING."""
    ui_cluster.api("POST", "/v1/task-definitions", WEB)
    body = {"serviceName": "web", "taskDefinition": "web:1", "desiredCount": DESIRED}
    ui_cluster.api("POST", "/v1/clusters/default/services", body)
    wait_for(f"service web has {DESIRED} RUNNING tasks", lambda: len(running(ui_cluster)) == DESIRED, 90)
    return ui_cluster


@pytest.fixture(scope="module")
def page(browser: WebDriver, web: LocalCluster) -> WebDriver:
    """The dashboard, signed in through its form with the admin token."""
    browser.get(web.url + "/ui")
    field = browser.find_element(By.CSS_SELECTOR, "input[type=password][name=token]")
    field.send_keys(web.plane.admin_token, Keys.RETURN)
    wait_for("the dashboard shows instance boxes after signing in", lambda: visible(browser, "data-instance-arn"), 15)
    assert web.plane.admin_token not in browser.current_url
    return browser


def click(d: WebDriver, selector: str) -> None:
    """Find and click in one step: the page redraws on every frame, so a found element may go stale."""
    assert d.execute_script(
        "const e = document.querySelector(arguments[0]); if (e) e.click(); return !!e;", selector
    ), f"nothing on the page matches {selector}"


def show_cluster(d: WebDriver) -> None:
    click(d, "button[data-tab=cluster]")


def test_the_cluster_zones_instances_and_task_chips(page: WebDriver, web: LocalCluster, artifacts: Path) -> None:
    instances = web.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]
    zone_of = {
        i["containerInstanceArn"]: next(a["value"] for a in i["attributes"] if a["name"] == "ecs.availability-zone")
        for i in instances
    }
    wait_for("one box per container instance", lambda: set(visible(page, "data-instance-arn")) == set(zone_of), 10)
    wait_for("one chip per RUNNING task", lambda: set(visible(page, "data-task-arn")) == running(web), 10)
    # Each box sits in the column headed by its zone, and the columns are side by side.
    columns = page.execute_script(
        "return [...document.querySelectorAll('.zone')].map(z => ({zone: z.querySelector('h2').innerText,"
        " left: z.getBoundingClientRect().left, boxes: [...z.querySelectorAll('[data-instance-arn]')]"
        ".map(b => b.getAttribute('data-instance-arn'))}));"
    )
    assert {arn: col["zone"] for col in columns for arn in col["boxes"]} == zone_of
    lefts = [col["left"] for col in columns]
    assert lefts == sorted(lefts) and len(set(lefts)) == 3
    # A chip shows its service, revision, deployment and host port, as the API reports them.
    task = web.running("web")[0]
    host_port = task["containers"][0]["networkBindings"][0]["hostPort"]
    shown = chip(page, task["taskArn"])
    assert shown is not None
    assert "web:1" in shown["text"] and f":{host_port}" in shown["text"]
    assert shown["deployment"] == web.service("web")["deployments"][0]["id"]
    services = visible(page, "data-service-arn")
    assert web.service("web")["serviceArn"] in services
    page.save_screenshot(str(artifacts / "1-cluster.png"))


def test_a_click_on_a_task_explains_its_placement(page: WebDriver, web: LocalCluster, artifacts: Path) -> None:
    show_cluster(page)
    task = web.running("web")[0]
    click(page, f".chip[data-task-arn='{task['taskArn']}']")
    panel = wait_for(
        "the explanation panel names a winner",
        lambda: texts(page, "#detail .winner"),
        10,
    )
    where = next(
        i
        for i in web.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]
        if i["containerInstanceArn"] == task["containerInstanceArn"]
    )
    name = next(a["value"] for a in where["attributes"] if a["name"] == "orch.name")
    assert name in panel[0] and task["availabilityZone"] in panel[0]
    text = texts(page, "#detail")[0]
    # The service's default strategies (ECS: zone spread, then instance spread), each with its ranking.
    assert "spread(attribute:ecs.availability-zone)" in text and "spread(instanceId)" in text
    assert "3 instances considered" in text
    # Beside it, the kubernetes profile on the same input: one row per instance, a score or a filter.
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    k = web.api("GET", f"/v1/clusters/default/tasks/{task_id}/explanation")["explanation"]["task"]
    rows = wait_for(
        "the kubernetes column has a row per instance",
        lambda: (r := page.execute_script(KUBE_ROWS)) and len(r) == 3 and r,
        10,
    )
    assert {r["arn"] for r in rows} == {i["containerInstanceArn"] for i in instances_of(web)}
    # The task was number k of its request: k tasks already sat in k zones, one each, so with maxSkew 1
    # kube-scheduler's topology spread drops those zones' nodes and scores the 3 - k others, all empty:
    #   LeastAllocated ((2048-128)*100//2048 = 93 + (2048-32)*100//2048 = 98) // 2 = 95
    #   Balanced: requested 128/2048 = 0.0625 and 32/2048 = 0.015625, std 0.0234375 -> int(97.66) = 97; total 192
    scored = [r for r in rows if r["score"]]
    assert len(scored) == 3 - k, rows
    assert all(r["score"] == "192" and "95" in r["text"] and "97" in r["text"] for r in scored), scored
    assert all(r["filter"] == "topologySpread" for r in rows if not r["score"]), rows
    kube = texts(page, "#detail .kube-winner")[0]
    assert "kube-scheduler would bind it to" in kube
    assert "ECS's rule on this input chooses the same instance again" in texts(page, "#detail [data-kube-panel]")[0]
    page.save_screenshot(str(artifacts / "2-explanation.png"))


def instances_of(c: LocalCluster) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = c.api("GET", "/v1/clusters/default/container-instances")["containerInstances"]
    return found


def test_a_docker_kill_shows_and_its_replacement_appears(
    page: WebDriver, web: LocalCluster, docker_executor: DockerExecutor, artifacts: Path
) -> None:
    show_cluster(page)
    before = running(web)
    victim = sorted(before)[0]
    containers = docker_executor.list({LABEL_TASK: victim.rsplit("/", 1)[-1]})
    assert containers, f"no container is labelled with task {victim}"
    assert chip(page, victim) is not None
    click(page, f".chip[data-task-arn='{victim}']")
    wait_for("the victim's explanation is open", lambda: texts(page, "#detail .winner"), 10)
    subprocess.run(["docker", "kill", containers[0].id], check=True, capture_output=True)
    # Gone, or no longer RUNNING, without reloading the page.
    wait_for(
        "the killed task's chip goes or stops saying RUNNING",
        lambda: (c := chip(page, victim)) is None or c["status"] != "RUNNING" or "stopping" in c["cls"],
        15,
    )
    # The open panel says that it stopped, and why, as DescribeTasks does.
    stopped = wait_for(
        "the open task panel says the task is STOPPED",
        lambda: [t for t in texts(page, "#detail .stopped") if "STOPPED" in t],
        30,
    )
    described = web.api("GET", f"/v1/clusters/default/tasks/{victim.rsplit('/', 1)[-1]}")["tasks"][0]
    assert described["stoppedReason"] in stopped[0]
    page.save_screenshot(str(artifacts / "3-killed.png"))
    new = wait_for("a chip for the replacement task", lambda: set(visible(page, "data-task-arn")) - before, 60)
    assert new <= {t["taskArn"] for t in web.tasks("web")}
    page.save_screenshot(str(artifacts / "3-replaced.png"))


def test_a_rollout_moves_the_chips_to_the_new_deployment(page: WebDriver, web: LocalCluster, artifacts: Path) -> None:
    show_cluster(page)
    wait_for(f"service web back to {DESIRED} RUNNING", lambda: len(running(web)) == DESIRED, 60)
    v2 = {
        **WEB,
        "containerDefinitions": [{**WEB["containerDefinitions"][0], "environment": [{"name": "V", "value": "2"}]}],
    }
    web.api("POST", "/v1/task-definitions", v2)
    old = web.service("web")["deployments"][0]["id"]
    web.api("PATCH", "/v1/clusters/default/services/web", {"taskDefinition": "web:2"})
    new = web.service("web")["deployments"][0]["id"]
    assert new != old
    click(page, f".service[data-service-arn='{web.service('web')['serviceArn']}']")
    wait_for("the service panel lists the new deployment", lambda: visible(page, "data-deployment-id"), 10)
    mixed = False

    def done() -> bool:
        nonlocal mixed
        deployments = visible(page, "data-deployment")
        mixed = mixed or (new in deployments and old in deployments)
        return len(deployments) == DESIRED and set(deployments) == {new}

    wait_for(f"all {DESIRED} chips carry the new deployment {new}", done, 120)
    text = texts(page, "#detail")[0]
    assert "web:2" in text and "PRIMARY" in text
    assert set(visible(page, "data-task-arn")) == running(web)
    page.save_screenshot(str(artifacts / "4-rollout.png"))


def plan_counts(plan: dict[str, Any]) -> Counter[str]:
    """Tasks the plan starts per instance, over all its steps."""
    return Counter(s["containerInstanceArn"] for step in plan["steps"] for s in step["starts"])


def test_the_plan_view_matches_the_plan_api(page: WebDriver, web: LocalCluster, artifacts: Path) -> None:
    wait_for("the rollout has settled", lambda: len(web.service("web")["deployments"]) == 1, 60)
    page.find_element(By.CSS_SELECTOR, "button[data-tab=plan]").click()
    form = page.find_element(By.ID, "plan-form")
    wait_for("the plan form lists service web", lambda: form.find_elements(By.CSS_SELECTOR, "option[value=web]"), 10)
    form.find_element(By.CSS_SELECTOR, "option[value=web]").click()
    # The form fills its defaults for the current revision; wait for them before changing one.
    wait_for(
        "the plan form knows web's current revision is web:2",
        lambda: "current: web:2" in form.find_element(By.NAME, "taskDefinition").text,
        10,
    )
    desired = form.find_element(By.NAME, "desiredCount")
    desired.clear()
    desired.send_keys(str(DESIRED + 4))
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(
        "both plan columns are drawn",
        lambda: len(page.find_elements(By.CSS_SELECTOR, "[data-plan-profile] [data-plan-instance-arn]")) == 6,
        15,
    )
    for profile in ("ecs", "kubernetes"):
        shown = page.execute_script(
            "return Object.fromEntries([...document.querySelectorAll(`[data-plan-profile=${arguments[0]}] "
            "[data-plan-instance-arn]`)].map(e => [e.dataset.planInstanceArn, Number(e.dataset.planStarts)]));",
            profile,
        )
        body = {"desiredCount": DESIRED + 4, "schedulerProfile": profile}
        expected = plan_counts(web.api("POST", "/v1/clusters/default/services/web/plan", body))
        assert sum(expected.values()) == 4
        assert {arn: n for arn, n in shown.items() if n} == dict(expected), profile
    # A plan changes nothing.
    assert web.service("web")["desiredCount"] == DESIRED
    page.save_screenshot(str(artifacts / "5-plan.png"))
