#!/usr/bin/env bash
# Lesson 04: a rolling deployment, a failed one, and the circuit breaker's rollback. Service web
# (4 tasks, minimumHealthyPercent 50, maximumPercent 150) rolls to web:2; then to web:3, whose
# container exits at once: after 3 failed tasks the circuit breaker fails the deployment and
# rolls the service back to web:2. README.md is the walkthrough.
. "$(dirname "$0")/../lib.sh"

step "1. Service web: 4 tasks of web:1, rollout bounds 50 % / 150 %, circuit breaker with rollback"
start_cluster 3 --zones us-east-1a,us-east-1b,us-east-1c --health-grace 2 --stop-timeout 2
orch taskdef register -f "$EXAMPLES/01-web/web.json" >/dev/null
orch svc create web --taskdef web:1 --desired 4 --min-healthy 50 --max-percent 150 --circuit-breaker rollback >/dev/null
wait_for 60 "service web has 4 RUNNING tasks" service_steady web 4
orch svc describe web | sed -n '1,6p'
point "minimumHealthyPercent 50 -> at least ceil(4 x 50 / 100) = 2 healthy; maximumPercent 150 -> at most floor(4 x 150 / 100) = 6 tasks"
point "circuit breaker threshold: clamp(ceil(4 / 2), 3, 200) = 3 failed tasks"

step "2. A rolling deployment to web:2 (a new environment variable)"
orch taskdef register -f "$LESSON_DIR/web-v2.json" >/dev/null
set +e
orch svc update web --taskdef web:2 --wait --timeout 90 | tail -4
rc=${PIPESTATUS[0]}
set -e
orch svc events web | tail -5
point "the old deployment drained while the new one started, never more than 6 tasks nor fewer than 2 healthy"
check "the rollout to web:2 completed (svc update --wait exit 0)" [ "$rc" = 0 ]
result rollout web:2:$rc
wait_for 60 "service web is steady on web:2" service_steady web 4

step "3. A broken revision: web:3 exits at start. The circuit breaker trips and rolls back."
orch taskdef register -f "$LESSON_DIR/web-broken.json" >/dev/null
set +e
orch svc update web --taskdef web:3 --wait --timeout 100 | tail -4
rc=${PIPESTATUS[0]}
set -e
orch svc describe web -o json --query 'services[0].deployments[].[status, taskDefinition, rolloutState, failedTasks]' -o text
orch svc events web | grep -E "circuit breaker|rolling back|rolled back|failed" | tail -3 || true
point "web:3's tasks stopped with 'Essential container in task exited'; at 3 failed tasks the deployment FAILED"
point "the service rolled back to its last completed deployment (web:2), and web:2's tasks kept serving throughout"
check "svc update --wait exits 1 for a failed, rolled-back deployment" [ "$rc" = 1 ]
rolled_back() { [ "$(q svc describe web -o json --query 'services[0].taskDefinition' -o text | sed 's|.*/||')" = web:2 ] && service_steady web 4; }
wait_for 60 "service web is back on web:2 with 4 tasks" rolled_back
on=$(q task list --service web -o json --query "tasks[?lastStatus=='RUNNING'].taskDefinitionArn" -o text | sed 's|.*/||' | sort -u | tr '\n' ' ')
check "every RUNNING task is web:2 again" [ "$on" = "web:2 " ]
result failed_rollout "$rc"
result rolled_back_to "$(q svc describe web -o json --query 'services[0].taskDefinition' -o text | sed 's|.*/||')"
result running_revisions "${on% }"
