#!/usr/bin/env bash
# Put CPU load on a service's tasks: CONCURRENCY loops of HTTP requests to /cgi-bin/burn?ms=BURN_MS
# (orch/cpu-web burns that much CPU per request), spread round-robin over the service's RUNNING
# tasks, at each one's instance address and dynamic host port, looked up with
# `orchestrator task list --service ... -o json` (networkBindings) and again every few seconds,
# which also sends load to tasks a scale-out adds.
#
#   ./load.sh [-s SERVICE] [-d SECONDS] [-c CONCURRENCY] [-m BURN_MS] [-C CLUSTER]
#
# Needs ORCH_SERVER and ORCH_DATA_DIR (or ORCH_TOKEN) as printed by `orchestrator dev`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -z "${ORCH:-}" ]; then
    if [ -x "$repo/.venv/bin/orchestrator" ]; then ORCH="$repo/.venv/bin/orchestrator"; else ORCH=orchestrator; fi
fi
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$repo/.venv/bin/python" ]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi

service=cpu-web
duration=120
concurrency=4
burn_ms=200
cluster=${ORCH_CLUSTER:-default}
refresh_s=3

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "s:d:c:m:C:h" opt; do
    case "$opt" in
        s) service=$OPTARG ;;
        d) duration=$OPTARG ;;
        c) concurrency=$OPTARG ;;
        m) burn_ms=$OPTARG ;;
        C) cluster=$OPTARG ;;
        h) usage 0 ;;
        *) usage 2 ;;
    esac
done
for n in "$duration" "$concurrency" "$burn_ms"; do
    case "$n" in ''|*[!0-9]*) echo "load.sh: -d, -c and -m take whole numbers" >&2; exit 2 ;; esac
done

ports_file=$(mktemp)
cleanup() {
    trap - EXIT INT TERM
    # Only the loops this script started.
    for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f "$ports_file" "$ports_file.new"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

discover() {
    # Host ports bound to container port 80 of the service's RUNNING tasks, one a line.
    "$ORCH" task list --service "$service" --cluster "$cluster" -o json | "$PYTHON" -c '
import json, sys
for task in json.load(sys.stdin).get("tasks", []):
    if task.get("lastStatus") != "RUNNING":
        continue
    for container in task.get("containers", []):
        for binding in container.get("networkBindings", []):
            if binding.get("containerPort") == 80:
                # bindIP: orchestrator dev gives each instance its own loopback address.
                ip = binding.get("bindIP") or "0.0.0.0"
                print((ip if ip != "0.0.0.0" else "127.0.0.1") + ":" + str(binding["hostPort"]))
' > "$ports_file.new" && mv "$ports_file.new" "$ports_file"
}

worker() {
    local index=$1 sent=0 port
    local -a ports
    while [ "$(date +%s)" -lt "$end" ]; do
        mapfile -t ports < "$ports_file"
        if [ "${#ports[@]}" -eq 0 ]; then
            sleep 0.5
            continue
        fi
        port=${ports[$(( (index + sent) % ${#ports[@]} ))]}
        curl -s -o /dev/null --max-time 30 "http://${port}/cgi-bin/burn?ms=${burn_ms}" || sleep 0.2
        sent=$((sent + 1))
    done
}

discover
if [ ! -s "$ports_file" ]; then
    echo "load.sh: service $service has no RUNNING task with a port 80 binding yet" >&2
    exit 1
fi
end=$(( $(date +%s) + duration ))
echo "load.sh: $concurrency loops of /cgi-bin/burn?ms=$burn_ms on $service for $duration s (Ctrl-C stops)"
for i in $(seq 1 "$concurrency"); do
    worker "$i" &
done
while [ "$(date +%s)" -lt "$end" ]; do
    sleep "$refresh_s"
    discover || true
    echo "$(date +%H:%M:%S)  $(wc -l < "$ports_file") tasks on ports: $(tr '\n' ' ' < "$ports_file")"
done
echo "load.sh: done"
