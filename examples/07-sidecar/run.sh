#!/usr/bin/env bash
# Lesson 07: a multi-container task. An app and its sidecar in one awsvpc task: they share the
# task's network namespace (127.0.0.1) and a task volume, and start in order (init, then app, then
# sidecar). The task has its own IP, shown in its attachment. README.md is the walkthrough.
. "$(dirname "$0")/../lib.sh"

step "1. A local cluster: a control plane and 1 agent"
start_cluster 1 --stop-timeout 2

step "2. One task definition, three containers, networkMode awsvpc"
orch taskdef register -f "$LESSON_DIR/sidecar.json"
point "init writes the page into the task volume 'site' and exits 0; app (httpd on 8080) waits for init's SUCCESS; sidecar starts once app has"

step "3. Run it: no networkConfiguration needed, the CLI gives awsvpc tasks the local subnet"
tid=$(q task run --taskdef sidecar -o json --query 'tasks[0].taskArn' -o text)
tid=${tid##*/}
note "task $tid"
task_running() { [ "$(q task describe "$tid" -o json --query 'tasks[0].lastStatus' -o text)" = RUNNING ]; }
wait_for 90 "task $tid RUNNING" task_running
orch task describe "$tid"
orch task describe "$tid" -o json --query 'tasks[0].attachments'
ip=$(q task describe "$tid" -o json | py "next(d2['value'] for a in d['tasks'][0]['attachments'] for d2 in a['details'] if d2['name'] == 'privateIPv4Address')")
point "the task's own IP: $ip (its ElasticNetworkInterface attachment; each container's networkInterfaces too)"

step "4. The sidecar reaches the app on 127.0.0.1, and the app serves what init wrote"
container() { docker ps -aq --filter "label=orch.task=$tid" --filter "label=orch.container=$1" | head -1; }
sidecar=$(container sidecar)
fetched() { docker exec "$sidecar" cat /tmp/last 2>/dev/null | grep -q 'written by init'; }
wait_for 30 "the sidecar fetched http://127.0.0.1:8080/" fetched
sh_show docker exec "$sidecar" cat /tmp/last
docker exec "$sidecar" cat /tmp/last
check "the sidecar got the page over localhost" fetched
result localhost 1
sh_show docker inspect -f '{{.HostConfig.NetworkMode}}' "$sidecar"
docker inspect -f '{{.HostConfig.NetworkMode}}' "$sidecar"
point "container:<sandbox>: the agent's sandbox container holds the task's namespace, as the ECS agent's pause container does"

step "5. The task's IP answers from the host too (its ports are on its own address, no host port)"
sh_show curl "http://$ip:8080/"
page=$(curl -sf --noproxy '*' --max-time 5 "http://$ip:8080/" || true)
echo "$page"
check "http://$ip:8080/ answers" [ "$page" = "written by init before app started" ]
result task_ip 1

step "6. The start order: init exited 0 before app started"
init_done=$(docker inspect -f '{{.State.FinishedAt}}' "$(container init)")
app_started=$(docker inspect -f '{{.State.StartedAt}}' "$(container app)")
note "init finished $init_done; app started $app_started"
# Docker's RFC 3339 times with nanoseconds (trailing zeros dropped): compare them as times.
in_order() {
  "$PYTHON" -c '
import re, sys
from datetime import datetime
t = lambda s: datetime.fromisoformat(re.sub(r"(\.\d{1,6})\d*", r"\1", s).replace("Z", "+00:00"))
sys.exit(0 if t(sys.argv[1]) <= t(sys.argv[2]) else 1)' "$init_done" "$app_started"
}
check "app started after init completed" in_order
result order 1

step "7. Stop the task: containers first, then the sandbox, then the task volume"
orch task stop "$tid"
gone() { [ -z "$(docker ps -aq --filter "label=orch.task=$tid")" ] && [ -z "$(docker volume ls -q | grep -F "$tid")" ]; }
wait_for 60 "the task's containers, sandbox and volume removed" gone
left=$(docker ps -aq --filter "label=orch.task=$tid" | wc -l | tr -d ' ')
check "nothing of the task is left" [ "$left" = 0 ]
result left "$left"
