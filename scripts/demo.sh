#!/usr/bin/env bash
# `make demo`: start a local cluster (3 agents in 3 zones) in the background, deploy
# examples/01-web as a service of 6 tasks behind a load balancer (HAProxy, `orchestrator lb`),
# print its one URL, and show where each task landed.
# `bash scripts/demo.sh stop` stops the cluster and removes its containers.
set -euo pipefail
cd "$(dirname "$0")/.."
ORCH="$PWD/.venv/bin/orchestrator"
DATA="$PWD/.data/demo"
PORT="${DEMO_PORT:-8420}"
LB_PORT="${DEMO_LB_PORT:-8080}"
PIDFILE="$DATA/dev.pid"
export ORCH_SERVER="http://127.0.0.1:$PORT" ORCH_DATA_DIR="$DATA"

stop_cluster() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill -TERM "$(cat "$PIDFILE")"
    for _ in $(seq 1 40); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.5; done
    echo "stopped the demo cluster"
  fi
  rm -f "$PIDFILE"
}

if [ "${1:-}" = "stop" ]; then stop_cluster; exit 0; fi

stop_cluster
rm -rf "$DATA"; mkdir -p "$DATA"
echo "starting a local cluster: control plane on $ORCH_SERVER, 3 agents in us-east-1a/b/c ..."
setsid "$ORCH" dev --agents 3 --zones us-east-1a,us-east-1b,us-east-1c --data-dir "$DATA" \
  --listen "127.0.0.1:$PORT" >"$DATA/dev.log" 2>&1 < /dev/null &
echo $! > "$PIDFILE"
for _ in $(seq 1 60); do
  n=$("$ORCH" instance list -o json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["containerInstances"]))' 2>/dev/null || echo 0)
  [ "$n" -ge 3 ] && break
  kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { echo "the cluster did not start:"; tail -5 "$DATA/dev.log"; exit 1; }
  sleep 0.5
done
[ "$n" -ge 3 ] || { echo "the agents did not register; see $DATA/dev.log"; exit 1; }

"$ORCH" taskdef register -f examples/01-web/web.json -o json >/dev/null
"$ORCH" svc create web --taskdef web:1 --desired 6 -o json >/dev/null
echo "service web created with 6 tasks; waiting for them to run ..."
for _ in $(seq 1 90); do
  running=$("$ORCH" svc describe web -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["services"][0]["runningCount"])')
  [ "$running" = 6 ] && break
  sleep 1
done
[ "$running" = 6 ] || { echo "only $running of 6 tasks are RUNNING; see $DATA/dev.log"; exit 1; }

# Checks every 5 s, healthy after 2, a 5 s drain: ELB's defaults (30 s, 5, 300 s) are slow for a demo.
"$ORCH" lb create web-lb --port "$LB_PORT" --service web --health-interval 5 --healthy-threshold 2 \
  --deregistration-delay 5 >/dev/null
for _ in $(seq 1 60); do
  healthy=$("$ORCH" lb targets web-lb -o json | python3 -c 'import json,sys; print(sum(1 for d in json.load(sys.stdin)["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "healthy"))')
  [ "$healthy" = 6 ] && break
  sleep 1
done
echo
echo "service web: http://127.0.0.1:$LB_PORT/   (load balancer web-lb, $healthy of 6 targets healthy)"

"$ORCH" instance list -o json > "$DATA/instances.json"
"$ORCH" task list --service web -o json > "$DATA/tasks.json"
python3 - "$DATA/instances.json" "$DATA/tasks.json" <<'PY'
import json, sys
instances = json.load(open(sys.argv[1]))["containerInstances"]
tasks = json.load(open(sys.argv[2]))["tasks"]
name = {i["containerInstanceArn"]: next(a["value"] for a in i["attributes"] if a["name"] == "orch.name") for i in instances}
print(f"\n{'task':34} {'instance':10} {'zone':12} {'status':8} url")
for t in sorted(tasks, key=lambda t: (t["availabilityZone"], name[t["containerInstanceArn"]])):
    # Each dev instance publishes on its own loopback address (bindIP), as separate hosts would.
    b = next((b for c in t["containers"] for b in c.get("networkBindings", [])), {})
    ip = b.get("bindIP") if b.get("bindIP") not in (None, "0.0.0.0") else "127.0.0.1"
    print(f"{t['taskArn'].rsplit('/', 1)[-1]:34} {name[t['containerInstanceArn']]:10} {t['availabilityZone']:12} "
          f"{t['lastStatus']:8} http://{ip}:{b.get('hostPort')}/")
PY
cat <<TXT

6 real containers (docker ps) spread 2/2/2 over three zones, one address in front of them:
  curl http://127.0.0.1:$LB_PORT/
Look around:
  export ORCH_SERVER=$ORCH_SERVER ORCH_DATA_DIR=$DATA
  .venv/bin/orchestrator svc describe web
  .venv/bin/orchestrator task explain <task id>       # why the scheduler chose that instance
  .venv/bin/orchestrator lb targets web-lb            # the load balancer's targets and their health
  .venv/bin/orchestrator svc update web --desired 3   # or docker kill a container and watch it come back
  .venv/bin/orchestrator svc events web --follow
The live dashboard: $ORCH_SERVER/ui (sign in with the token in $DATA/admin.token)
Stop the cluster (and remove its containers): bash scripts/demo.sh stop
TXT
