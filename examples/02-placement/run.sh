#!/usr/bin/env bash
# Lesson 02: placement strategies and constraints. The same small task definition placed four
# ways on 3 instances in 3 zones: spread (ECS's default), binpack, memberOf and distinctInstance,
# and what "unable to place" looks like, both for a service and for RunTask. README.md is the walkthrough.
. "$(dirname "$0")/../lib.sh"

step "1. A cluster of 3 instances, one per zone, and the web task definition of lesson 01"
start_cluster 3 --zones us-east-1a,us-east-1b,us-east-1c --health-grace 1 --stop-timeout 2
orch taskdef register -f "$EXAMPLES/01-web/web.json" >/dev/null
orch taskdef register -f "$LESSON_DIR/big.json" >/dev/null
orch instance list

step "2. spread: ECS's default for a service (zones, then instances)"
orch svc create spread --taskdef web:1 --desired 6
wait_for 60 "service spread has 6 RUNNING tasks" service_steady spread 6
spread=$(zone_counts spread)
point "2 tasks in each zone: $spread; svc describe says 'Placement: ECS default (spread over zones, then instances)'"
check "spread puts 2 tasks in each of the 3 zones" [ "$spread" = "us-east-1a=2 us-east-1b=2 us-east-1c=2" ]
result spread "$spread"

step "3. binpack:memory: fill the instance with the least memory left that still fits"
orch svc create packed --taskdef web:1 --desired 4 --strategy binpack:memory
wait_for 60 "service packed has 4 RUNNING tasks" service_steady packed 4
packed=$(instance_counts packed)
orch task explain "$(q task list --service packed -o json --query 'tasks[-1].taskArn' -o text | sed 's|.*/||')"
point "all 4 on one instance ($packed): the BINPACK MEMORY column ranks instances by MiB left, fewest first"
check "binpack puts every task on one instance" [ "$(echo "$packed" | wc -w)" = 1 ]
result binpack "$packed"

step "4. memberOf: only instances whose attributes match an expression"
orch instance set-attribute agent-3 stack=prod
orch svc create prod --taskdef web:1 --desired 2 --constraint 'memberOf:attribute:stack == prod'
wait_for 60 "service prod has 2 RUNNING tasks" service_steady prod 2
prod=$(instance_counts prod)
orch task explain "$(q task list --service prod -o json --query 'tasks[0].taskArn' -o text | sed 's|.*/||')"
point "both on agent-3 ($prod): the memberOf filter dropped agent-1 and agent-2, whatever the strategy says"
check "memberOf keeps the tasks on agent-3" [ "$prod" = "agent-3=2" ]
result memberof "$prod"

step "5. distinctInstance, and what 'unable to place' looks like"
orch svc create one-each --taskdef web:1 --desired 4 --constraint distinctInstance
three_running() { [ "$(running_tasks one-each)" = 3 ]; }
wait_for 60 "service one-each has 3 RUNNING tasks" three_running
unplaced() { q svc events one-each | grep -q "was unable to place a task"; }
wait_for 30 "an 'unable to place' event for one-each" unplaced
orch svc events one-each | grep "unable to place" | head -1
one_each=$(instance_counts one-each)
point "3 of 4 running, one per instance ($one_each); the 4th has nowhere to go, and the event says why"
check "distinctInstance runs at most one task per instance" [ "$one_each" = "agent-1=1 agent-2=1 agent-3=1" ]
result distinct "$one_each"
result distinct_event "$(q svc events one-each | grep -c 'unable to place')"

step "6. RunTask that fits nowhere: failures[] instead of a task"
orch task run --taskdef big:1 || true
reason=$(q task run --taskdef big:1 -o json --query 'failures[0].reason' -o text || true)
point "no task, and failures[] names the resource: $reason (4096 MiB asked, 2048 per instance)"
check "the failure names memory" [ "$reason" = "RESOURCE:MEMORY" ]
result runtask_failure "$reason"
