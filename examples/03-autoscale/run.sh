#!/usr/bin/env bash
# Lesson 03: autoscaling, the README's walkthrough end to end with a fast clock: target tracking
# at 50 % CPU scales out under load and back in when it stops; then a step policy scales out by
# steps. Metric period 2 s, scale-out after 2 high datapoints, scale-in after 3 low ones.
. "$(dirname "$0")/../lib.sh"

step "1. A cluster of 2 agents; metric period 2 s, high alarm after 2 datapoints, low after 3"
start_cluster 2 --zones us-east-1a,us-east-1b --metric-period 2 --high-datapoints 2 --low-datapoints 3 --stop-timeout 2
orch taskdef register -f "$LESSON_DIR/taskdef.json" >/dev/null
orch svc create cpu-web --taskdef cpu-web:1 --desired 1 >/dev/null
wait_for 60 "service cpu-web has 1 RUNNING task" service_steady cpu-web 1
desired() { q svc describe cpu-web -o json --query 'services[0].desiredCount'; }

step "2. A scalable target (1 to 3 tasks) and a target-tracking policy at 50 % CPU"
orch autoscale register cpu-web --min 1 --max 3
orch autoscale put-policy cpu-web --name cpu50 --target-tracking cpu=50 --scale-out-cooldown 5 --scale-in-cooldown 5
orch autoscale describe cpu-web
point "the policy created two alarms, as on ECS: AlarmHigh (above 50) and AlarmLow (below 45, 90 % of the target)"

LOAD=""
stop_load() { if [ -n "$LOAD" ]; then kill -TERM "$LOAD" 2>/dev/null || true; wait "$LOAD" 2>/dev/null || true; LOAD=""; fi; }
start_load() {
  sh_show "$LESSON_DIR/load.sh -s cpu-web -d 60 -c 3 -m 300 &"
  ORCH="$ORCH" PYTHON="$PYTHON" "$LESSON_DIR/load.sh" -s cpu-web -d 60 -c 3 -m 300 >"$DATA/load.log" 2>&1 &
  LOAD=$!
  EXTRA_PIDS="$LOAD"
}

step "3. Load: three loops of CPU-burning requests. Watch the desired count."
start_load
scaled_out() { [ "$(desired)" -gt 1 ]; }
# The most the policy asked for: on a busy machine the low alarm may already be taking it back.
most_set() { q autoscale activities cpu-web --scaled-only -o json --query 'ScalingActivities[].Description' -o text | grep -o '[0-9]\+' | sort -n | tail -1; }
wait_for 60 "target tracking scales cpu-web out" scaled_out
out=$(most_set)
orch svc metrics cpu-web | tail -8
orch autoscale activities cpu-web --scaled-only
point "CPUUtilization above 50 %: AlarmHigh fired and the policy raised the desired count to $out (ceil(running x CPU / 50), at most 3)"
check "target tracking scaled out" [ "$out" -gt 1 ]
result target_out "$out"

step "4. The load stops: after 3 low datapoints the service scales back in, half the surplus per cooldown"
stop_load
back_in() { [ "$(desired)" = 1 ]; }
wait_for 90 "target tracking scales cpu-web back in to 1" back_in
orch autoscale activities cpu-web --scaled-only
point "newest first: AlarmLow triggered policy cpu50 - back to 1, the minimum"
check "target tracking scaled in to the minimum" [ "$(desired)" = 1 ]
result target_in "$(desired)"

step "5. Step scaling instead: +1 task above 40 %, +2 above 140 %"
orch autoscale delete-policy cpu-web --name cpu50
orch autoscale put-policy cpu-web --step-file "$LESSON_DIR/step-policy.json"
wait_for 60 "cpu-web is steady at 1 task" service_steady cpu-web 1
start_load
wait_for 60 "the step policy scales cpu-web out" scaled_out
stop_load
step_out=$(desired)
orch autoscale activities cpu-web --scaled-only | head -3
point "the step policy added tasks by its step adjustments (now $step_out); it has no step below its threshold, so it never scales in"
check "step scaling scaled out" [ "$step_out" -gt 1 ]
result step_out "$step_out"
result step_cause "$(q autoscale activities cpu-web -o json --query 'ScalingActivities[0].Cause' -o text | grep -o 'policy [a-z0-9-]*' | head -1)"
