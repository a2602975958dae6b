#!/usr/bin/env bash
# Lesson 05: losing a zone. Two zones come from `orchestrator dev`; the third, us-east-1c, is an
# `orchestrator agent` process of its own, as it would be on another host. Stop it: after
# --lost-after seconds of silence its tasks are marked STOPPED and replaced in the zones left.
# Start it again: it comes back as the same container instance and stops the containers it still
# ran for tasks that were replaced. ECS does not move tasks back by itself: scaling in (from the
# fullest zones) and out again (into the emptiest) spreads them again. README.md is the walkthrough.
. "$(dirname "$0")/../lib.sh"

step "1. Zones us-east-1a and us-east-1b from orchestrator dev, us-east-1c from a separate agent"
start_cluster 2 --zones us-east-1a,us-east-1b --lost-after 16 --health-grace 2 --stop-timeout 2
AGENT_C=""
start_zone_c() {
  sh_show "orchestrator agent --server $ORCH_SERVER --join-token \"\$(cat $DATA/join.token)\" --zone us-east-1c --name agent-c --cpu 2048 --memory 2048 --state-dir $DATA/agent-c &"
  "$ORCH" agent --server "$ORCH_SERVER" --join-token "$(cat "$DATA/join.token")" --zone us-east-1c --name agent-c \
    --cpu 2048 --memory 2048 --instance-type t3.small --state-dir "$DATA/agent-c" --stop-timeout 2 \
    --log-level warning >>"$DATA/agent-c.log" 2>&1 </dev/null &
  AGENT_C=$!
  EXTRA_PIDS="$AGENT_C"
}
start_zone_c
c_connected() { [ "$(q instance describe agent-c -o json --query 'containerInstances[0].agentConnected')" = true ]; }
wait_for 30 "agent-c registered in us-east-1c" c_connected
orch instance list

step "2. Service web: 6 tasks, two per zone"
orch taskdef register -f "$EXAMPLES/01-web/web.json" >/dev/null
orch svc create web --taskdef web:1 --desired 6 >/dev/null
wait_for 60 "service web has 6 RUNNING tasks" service_steady web 6
before=$(zone_counts web)
point "two per zone: $before"
check "6 tasks spread 2/2/2 before the loss" [ "$before" = "us-east-1a=2 us-east-1b=2 us-east-1c=2" ]
lost_tasks=$(q task list --service web --instance agent-c -o json --query 'tasks[].taskArn' -o text | sed 's|.*/||' | tr '\n' ' ')
result before "$before"

step "3. Lose zone us-east-1c: stop its agent"
sh_show "kill -TERM $AGENT_C    # the agent of us-east-1c goes away"
kill -TERM "$AGENT_C"
wait "$AGENT_C" 2>/dev/null || true
c_lost() { [ "$(q instance describe agent-c -o json --query 'containerInstances[0].agentConnected')" = false ]; }
wait_for 40 "agent-c shows as disconnected" c_lost
orch instance list
point "agent-c: agent disconnected. Its containers still run on the host, but nobody reports on them."
replaced() { service_steady web 6 && [ "$(zone_counts web)" != "$before" ]; }
wait_for 60 "the tasks of us-east-1c are replaced in the other zones" replaced
orch svc events web | grep -E "stopped|started" | tail -3
for t in $lost_tasks; do
  q task describe "$t" -o json --query 'tasks[0].[lastStatus, stoppedReason]' -o text | tr '\n' ' '; echo "($t)"
done
after=$(zone_counts web)
point "after 15 s of silence the instance is disconnected; after 16 (--lost-after) its tasks are STOPPED ('Task stopped due to container instance lost'), replaced: $after"
check "the 6 tasks now run in the two zones left" [ "$after" = "us-east-1a=3 us-east-1b=3" ]
stopped_reason=$(q task describe "${lost_tasks%% *}" -o json --query 'tasks[0].stoppedReason' -o text)
result after "$after"
result lost_reason "$stopped_reason"

step "4. Bring the zone back: the same agent, the same state dir"
start_zone_c
wait_for 30 "agent-c is connected again" c_connected
orch instance list
orphans() { docker ps -q --filter "label=orch.instance=$(q instance describe agent-c -o json --query 'containerInstances[0].containerInstanceArn' -o text | sed 's|.*/||')" | wc -l; }
no_orphans() { [ "$(orphans)" = 0 ]; }
wait_for 30 "agent-c stops the containers of its replaced tasks" no_orphans
point "the same container instance is back, and it stopped the containers of the tasks that were replaced"
still=$(zone_counts web)
point "but the service stays where it is ($still): ECS does not rebalance a service by itself"
result back "$still"
result orphans_left "$(orphans)"

step "5. Rebalance by hand: scale in (ECS stops tasks in the fullest zones first), then out again"
orch svc update web --desired 3 >/dev/null
stopped_all() { [ "$(q task list --service web --desired-status STOPPED -o json --query "tasks[?lastStatus!='STOPPED'] | length(@)")" = 0 ]; }
wait_for 60 "service web is down to 3 tasks" service_steady web 3
# Tasks still stopping count for spread, as they hold their instance until they are gone.
wait_for 30 "the 3 stopped tasks are gone" stopped_all
point "scaled in from the zones with most tasks: $(zone_counts web)"
orch svc update web --desired 6 >/dev/null
wait_for 60 "service web is back at 6 tasks" service_steady web 6
spread=$(zone_counts web)
orch task list --service web
point "scaled out into the emptiest zones: two per zone again, $spread"
point "(svc update --force-new-deployment would not do it: the new tasks are spread counting the old ones, all in 1a and 1b)"
check "scaling in and out again spreads over the 3 zones" [ "$spread" = "us-east-1a=2 us-east-1b=2 us-east-1c=2" ]
result respread "$spread"
