#!/usr/bin/env bash
# Lesson 06: the same service placed by ECS and by kube-scheduler. Four instances in two zones,
# two of them half full with a batch task. ECS with "spread over zones, then binpack memory" packs
# the service onto the busy instances; the kubernetes profile (PodTopologySpread, then
# NodeResourcesFit LeastAllocated + BalancedAllocation) puts it on the empty ones. `svc plan`
# shows both for the same change without changing anything. README.md is the walkthrough.
. "$(dirname "$0")/../lib.sh"

names() { # names JSON-OF-INSTANCE-ARNS...: instance names for ARNs on stdin, sorted, comma-separated
  local map
  map=$(q instance list -o json | py "{i['containerInstanceArn']: next(a['value'] for a in i['attributes'] if a['name'] == 'orch.name') for i in d['containerInstances']}")
  "$PYTHON" -c "import json,sys; m=json.loads(sys.argv[1]); print(','.join(sorted(m[a] for a in sys.stdin.read().split())))" "$map"
}
placed_on() { q task list --service "$1" -o json --query "tasks[?lastStatus=='RUNNING'].containerInstanceArn" -o text | names; }
plan_on() { # plan_on SERVICE PROFILE DESIRED: where the plan starts tasks
  q svc plan "$1" --desired "$3" --profile "$2" -o json --query 'steps[].starts[].containerInstanceArn' -o text | names
}

step "1. Four instances in two zones; a batch task fills half of agent-1 and of agent-2"
start_cluster 4 --zones us-east-1a,us-east-1b --health-grace 1 --stop-timeout 2
orch taskdef register -f "$EXAMPLES/01-web/web.json" >/dev/null
orch taskdef register -f "$LESSON_DIR/batch.json" >/dev/null
orch task start agent-1 agent-2 --taskdef batch:1 >/dev/null
batch_running() { [ "$(q task list -o json --query "tasks[?lastStatus=='RUNNING'] | length(@)")" = 2 ]; }
wait_for 60 "the 2 batch tasks are RUNNING" batch_running
orch status | sed -n '/^INSTANCE/,/^$/p'
point "agent-1 and agent-2 have 1024 of 2048 CPU units and MiB left; agent-3 and agent-4 are empty"

step "2. ECS: spread over zones, then binpack memory"
orch svc create ecs-web --taskdef web:1 --desired 2 --strategy spread:attribute:ecs.availability-zone --strategy binpack:memory >/dev/null
wait_for 60 "service ecs-web has 2 RUNNING tasks" service_steady ecs-web 2
ecs=$(placed_on ecs-web)
orch task explain "$(q task list --service ecs-web -o json --query 'tasks[0].taskArn' -o text | sed 's|.*/||')"
point "one per zone, each on the instance with the least memory left that fits: $ecs"
check "ECS binpack put the service on the busy instances" [ "$ecs" = "agent-1,agent-2" ]
result ecs "$ecs"

step "3. kube-scheduler (the kubernetes profile): the same task definition, the same cluster"
orch svc create kube-web --taskdef web:1 --desired 2 --profile kubernetes >/dev/null
wait_for 60 "service kube-web has 2 RUNNING tasks" service_steady kube-web 2
kube=$(placed_on kube-web)
orch task explain "$(q task list --service kube-web -o json --query 'tasks[0].taskArn' -o text | sed 's|.*/||')"
point "topology spread keeps the zones within maxSkew 1; LeastAllocated + BalancedAllocation score the empty nodes highest: $kube"
point "on the dashboard ($ORCH_SERVER/ui) click an ecs-web chip: ECS's reasons, and kube-scheduler's scores beside them"
check "kube-scheduler put the service on the empty instances" [ "$kube" = "agent-3,agent-4" ]
result kube "$kube"

step "4. svc plan: two more ecs-web tasks, placed by each, without changing anything"
orch svc plan ecs-web --desired 4
orch svc plan ecs-web --desired 4 --profile kubernetes
plan_ecs=$(plan_on ecs-web ecs 4)
plan_kube=$(plan_on ecs-web kubernetes 4)
point "ECS would add to $plan_ecs; kube-scheduler to $plan_kube (the dashboard's Plan tab draws both side by side)"
check "the plan changed nothing" [ "$(q svc describe ecs-web -o json --query 'services[0].desiredCount')" = 2 ]
result plan_ecs "$plan_ecs"
result plan_kube "$plan_kube"

step "5. What the service becomes on a real Kubernetes cluster"
orch export kubernetes kube-web | sed -n '/topologySpreadConstraints/,/whenUnsatisfiable/p' | head -12
point "zone spread as a topologySpreadConstraint on topology.kubernetes.io/zone, maxSkew 1; ScheduleAnyway, since ECS's spread never blocks a placement (the kubernetes profile filters as DoNotSchedule would)"
