# Shared by the lessons' run.sh scripts (sourced, never run): start a local cluster with
# `orchestrator dev`, show each `orchestrator` command before running it, say what to point at,
# wait for things with a deadline, and check the lesson's point.
#
# Environment a lesson honours:
#   LESSON_KEEP=1      leave the cluster running at the end (for questions); the script prints how to stop it
#   LESSON_PORT=N      the control plane's port (default: a free one)
#   LESSON_DATA=DIR    the cluster's data dir (default: a new one under /tmp)
#   LESSON_PAUSE=1     wait for Enter after each step (in front of a class)
#   ORCH, PYTHON       the orchestrator command and a python3 (default: the repository's .venv)
# Lines starting with `RESULT ` are the lesson's outcome in key=value form (tests read them).
set -euo pipefail

LESSON_DIR=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
REPO=$(cd "$LESSON_DIR/../.." && pwd)
EXAMPLES="$REPO/examples"
if [ -z "${ORCH:-}" ]; then
  if [ -x "$REPO/.venv/bin/orchestrator" ]; then ORCH="$REPO/.venv/bin/orchestrator"; else ORCH=orchestrator; fi
fi
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi
# Every request goes to 127.0.0.1, never through a proxy from the environment; one line per message.
export NO_PROXY="${NO_PROXY:+$NO_PROXY,}127.0.0.1,localhost" no_proxy="${no_proxy:+$no_proxy,}127.0.0.1,localhost"
export COLUMNS="${COLUMNS:-160}"
DEV_PID=""
STARTED=$(date +%s)

# -- what the class sees ----------------------------------------------------------------------

if [ -t 1 ]; then B=$'\033[1m' C=$'\033[36m' D=$'\033[2m' N=$'\033[0m'; else B="" C="" D="" N=""; fi

step() {
  if [ "${LESSON_PAUSE:-}" = 1 ] && [ -t 0 ]; then read -r -p "  (Enter for the next step) " _; fi
  printf '\n%s== %s%s\n' "$B" "$*" "$N"
}
point() { printf '  %s>> point at:%s %s\n' "$C" "$N" "$*"; }
note() { printf '  %s\n' "$*"; }
# The command, as a learner would type it, then its output.
orch() {
  printf '%s$ orchestrator %s%s\n' "$D" "$*" "$N" >&2
  "$ORCH" "$@"
}
# Another command (docker, curl, a helper script), shown the same way.
sh_show() { printf '%s$ %s%s\n' "$D" "$*" "$N"; }
# The same, quietly: for the script's own look-ups.
q() { "$ORCH" "$@"; }
result() { echo "RESULT $1=$2"; }
fail() {
  echo "LESSON FAILED: $*" >&2
  [ -n "${DATA:-}" ] && [ -f "$DATA/dev.log" ] && { echo "--- last lines of $DATA/dev.log" >&2; tail -5 "$DATA/dev.log" >&2; }
  exit 1
}
check() { # check DESCRIPTION TEST-COMMAND...: the lesson's point, or the lesson fails
  local what=$1; shift
  if "$@"; then echo "  ok: $what"; else fail "$what"; fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds, or fail naming what never happened.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local end=$(($(date +%s) + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || fail "after ${seconds} s: $what"
    [ -z "$DEV_PID" ] || kill -0 "$DEV_PID" 2>/dev/null || fail "orchestrator dev exited while waiting: $what"
    sleep 1
  done
}

# py EXPR: evaluate EXPR with `d` bound to the JSON on stdin (for what --query cannot say).
py() { "$PYTHON" -c "import json,sys,collections; d=json.load(sys.stdin); r=($1); print(r if isinstance(r,(str,int,float)) else json.dumps(r))"; }

# -- the cluster ------------------------------------------------------------------------------

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_cluster AGENTS [DEV-OPTION...]: `orchestrator dev` in the background; sets ORCH_SERVER and
# ORCH_DATA_DIR for every command after it, and stops the cluster when the script exits.
start_cluster() {
  local agents=$1; shift
  DATA=${LESSON_DATA:-$(mktemp -d /tmp/lesson.XXXXXX)}
  mkdir -p "$DATA"
  PORT=${LESSON_PORT:-$(free_port)}
  export ORCH_SERVER="http://127.0.0.1:$PORT" ORCH_DATA_DIR="$DATA"
  unset ORCH_TOKEN ORCH_CLUSTER
  printf '%s$ orchestrator dev --agents %s %s --data-dir %s --listen 127.0.0.1:%s --context ""%s\n' \
    "$D" "$agents" "$*" "$DATA" "$PORT" "$N"
  setsid "$ORCH" dev --agents "$agents" "$@" --data-dir "$DATA" --listen "127.0.0.1:$PORT" --context '' \
    >"$DATA/dev.log" 2>&1 </dev/null &
  DEV_PID=$!
  trap stop_cluster EXIT
  trap 'exit 130' INT TERM
  wait_for 60 "$agents container instances registered" instances_at_least "$agents"
  note "control plane $ORCH_SERVER, $agents agents; dashboard $ORCH_SERVER/ui (token: $DATA/admin.token)"
  note "in another terminal: export ORCH_SERVER=$ORCH_SERVER ORCH_DATA_DIR=$DATA"
}

instances_at_least() { [ "$(q instance list -o json --query 'length(containerInstances)')" -ge "$1" ]; }

stop_cluster() {
  local rc=$?
  trap - EXIT
  for pid in ${EXTRA_PIDS:-}; do kill -TERM "$pid" 2>/dev/null || true; done
  if [ -n "$DEV_PID" ] && [ "${LESSON_KEEP:-}" = 1 ] && [ "$rc" = 0 ]; then
    echo
    note "the cluster keeps running (LESSON_KEEP=1): kill -TERM $DEV_PID stops it and removes its containers"
    return
  fi
  if [ -n "$DEV_PID" ] && kill -0 "$DEV_PID" 2>/dev/null; then
    kill -TERM "$DEV_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$DEV_PID" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$DEV_PID" 2>/dev/null || true
  fi
  for pid in ${EXTRA_PIDS:-}; do wait "$pid" 2>/dev/null || true; done
  echo "lesson took $(($(date +%s) - STARTED)) s"
  exit "$rc"
}

# -- look-ups a lesson needs ------------------------------------------------------------------

running_count() { q svc describe "$1" -o json --query 'services[0].runningCount'; }
service_steady() { # service_steady NAME N: N running, one deployment, rollout COMPLETED
  [ "$(q svc describe "$1" -o json --query 'services[0].[runningCount, length(deployments), deployments[0].rolloutState]' \
    | tr -d '\n ')" = "[$2,1,\"COMPLETED\"]" ]
}
running_tasks() { q task list --service "$1" --desired-status RUNNING -o json --query "tasks[?lastStatus=='RUNNING'] | length(@)"; }
# zone_counts SERVICE: RUNNING tasks per zone, e.g. us-east-1a=2 us-east-1b=2 us-east-1c=2
zone_counts() {
  q task list --service "$1" -o json | py "' '.join(f'{z}={n}' for z, n in sorted(collections.Counter(t['availabilityZone'] for t in d['tasks'] if t['lastStatus'] == 'RUNNING').items()))"
}
# instance_counts SERVICE: RUNNING tasks per instance name, e.g. agent-1=3 agent-2=1
instance_counts() {
  local names
  names=$(q instance list -o json | py "{i['containerInstanceArn']: next(a['value'] for a in i['attributes'] if a['name'] == 'orch.name') for i in d['containerInstances']}")
  q task list --service "$1" -o json | py "' '.join(f'{k}={v}' for k, v in sorted(collections.Counter(json.loads('''$names''')[t['containerInstanceArn']] for t in d['tasks'] if t['lastStatus'] == 'RUNNING').items()))"
}
