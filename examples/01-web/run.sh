#!/usr/bin/env bash
# Lesson 01: a web service. Register a task definition, run it as a service of 3 tasks over three
# zones, reach each task on its host port, see why a task went where it did, kill a container and
# watch the service replace it, then scale to 6. README.md beside this script is the walkthrough.
. "$(dirname "$0")/../lib.sh"

step "1. A local cluster: a control plane and 3 agents, one per zone"
start_cluster 3 --zones us-east-1a,us-east-1b,us-east-1c --health-grace 1 --stop-timeout 2
orch instance list
point "three container instances, one per availability zone, each 2048 CPU units and 2048 MiB"

step "2. A task definition: one container of orch/web (busybox httpd) on a dynamic host port"
orch taskdef register -f "$LESSON_DIR/web.json"
point "web:1 - family web, revision 1; 128 CPU units, 32 MiB reserved, container port 80 -> host port 0 (any)"

step "3. A service keeps 3 tasks running"
orch svc create web --taskdef web:1 --desired 3
wait_for 60 "service web has 3 RUNNING tasks" service_steady web 3
orch task list --service web
zones=$(zone_counts web)
point "one task per zone: $zones (ECS's default for a service: spread over zones, then over instances)"
check "3 tasks in 3 zones" [ "$zones" = "us-east-1a=1 us-east-1b=1 us-east-1c=1" ]
result spread "$zones"

step "4. Each task answers on its own host port, at its instance's address"
answered=0
# bindIP: orchestrator dev gives each instance its own loopback address (127.0.1.N), as hosts would have.
addresses=$(q task list --service web -o json | py "' '.join(sorted({(b['bindIP'] if b.get('bindIP') not in (None, '0.0.0.0') else '127.0.0.1') + ':' + str(b['hostPort']) for t in d['tasks'] for c in t['containers'] for b in c.get('networkBindings', []) if ':' not in (b.get('bindIP') or '')}))")
for address in $addresses; do
  printf '$ curl http://%s/  ->  ' "$address"
  if curl -sf --max-time 5 "http://$address/" | head -c 60 | tr '\n' ' '; then answered=$((answered + 1)); fi
  echo
done
check "every task answers HTTP" [ "$answered" -ge 3 ]
result http_answers "$answered"

step "5. Why there? The scheduler's recorded reasons"
first=$(q task list --service web -o json --query 'tasks[0].taskArn' -o text)
orch task explain "${first##*/}"
point "the zone-spread ranking (the emptiest zone first), then spread(instanceId), and the winner marked *"
point "on the dashboard ($ORCH_SERVER/ui): click a task chip for the same, with kube-scheduler's scores beside it"

step "6. Kill a container: the service replaces the task"
victim=$(q task list --service web -o json --query 'tasks[0].taskArn' -o text)
cid=$(docker ps -q --filter "label=orch.task=${victim##*/}" | head -1)
[ -n "$cid" ] || fail "no container carries label orch.task=${victim##*/}"
sh_show docker kill "$cid"
docker kill "$cid" >/dev/null
replaced() { [ "$(running_count web)" = 3 ] && ! q task list --service web -o json --query 'tasks[].taskArn' -o text | grep -q "${victim##*/}"; }
wait_for 60 "a replacement for task ${victim##*/} is RUNNING" replaced
orch task describe "${victim##*/}" -o json --query 'tasks[0].[lastStatus, stoppedReason]' -o text
orch svc events web | head -6
point "the killed task is STOPPED with its reason; the event log says the service started a new task"
result replaced 1

step "7. Scale to 6"
orch svc update web --desired 6
wait_for 60 "service web has 6 RUNNING tasks" service_steady web 6
zones=$(zone_counts web)
orch status
point "two per zone: $zones"
check "6 tasks spread 2/2/2" [ "$zones" = "us-east-1a=2 us-east-1b=2 us-east-1c=2" ]
result scaled "$zones"
