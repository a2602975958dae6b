"""The foundation end to end on real containers: spread, replacement, scale to zero, bad input."""

from __future__ import annotations

import collections

from agent.executor.docker import DockerExecutor
from tests.harness import LocalCluster, wait_for


def test_service_of_six_on_three_zones_runs_two_per_zone(docker_cluster: LocalCluster,
                                                         docker_executor: DockerExecutor) -> None:
    c = docker_cluster
    c.start_agents(3)
    td = c.register("web", image="orch/web:latest", command=None, portMappings=[{"containerPort": 80}])
    c.api("POST", "/v1/clusters/default/services", {"serviceName": "web", "taskDefinition": td, "desiredCount": 6})
    running = wait_for(lambda: len(c.running("web")) == 6 and c.running("web"), 60, what="6 RUNNING tasks")
    # 6 tasks over 3 zones with one instance each: the zone spread gives 6 / 3 = 2 per zone.
    assert sorted(collections.Counter(t["availabilityZone"] for t in running).values()) == [2, 2, 2]
    ids = {t["taskArn"].rsplit("/", 1)[-1] for t in running}
    containers = [s for s in docker_executor.list({"orch.managed": "true"}) if s.labels["orch.task"] in ids]
    assert len(containers) == 6 and all(s.running for s in containers)
