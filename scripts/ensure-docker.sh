#!/usr/bin/env bash
# Make sure a Docker engine answers: use the one DOCKER_HOST or /var/run/docker.sock points at,
# otherwise (root on Debian) install docker.io if needed and start dockerd in the background.
# Idempotent; returns at once when the engine is already up.
set -euo pipefail

LOG=/var/log/orch-dockerd.log
WAIT_S=${ORCH_DOCKER_WAIT_S:-60}

engine_answers() {
    command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1
}

# The chaos tests put an agent in a network namespace of their own (ip, iptables) and restart a
# private dockerd: the tools come with Debian's iproute2 and iptables (docker.io needs the latter).
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 \
    && { ! command -v ip >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1; }; then
    echo "ensure-docker: installing iproute2 and iptables ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 iptables >/dev/null
fi

if engine_answers; then
    exit 0
fi

if [ -n "${DOCKER_HOST:-}" ]; then
    # Someone chose an engine on purpose; starting a local one would hide their mistake.
    echo "ensure-docker: DOCKER_HOST=${DOCKER_HOST} does not answer 'docker info'." >&2
    echo "ensure-docker: start that engine, or unset DOCKER_HOST to use a local dockerd." >&2
    exit 1
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-docker: no Docker engine answers and this script can only start one as root on Debian." >&2
    echo "ensure-docker: install and start Docker (https://docs.docker.com/engine/install/)," >&2
    echo "ensure-docker: or set DOCKER_HOST to an engine that answers, then rerun." >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    echo "ensure-docker: installing docker.io ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io >/dev/null
fi

# A previous dockerd may still be starting (or may have crashed leaving its pid file behind).
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "ensure-docker: dockerd (pid $(cat "$pidfile")) is running; waiting for it to answer ..." >&2
else
    rm -f "$pidfile"
    echo "ensure-docker: starting dockerd (log: $LOG) ..." >&2
    # setsid + nohup: the engine must outlive this shell, the test session and the CI step.
    setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq 1 "$WAIT_S"); do
    if engine_answers; then
        echo "ensure-docker: Docker engine is up." >&2
        exit 0
    fi
    sleep 1
done

echo "ensure-docker: dockerd did not answer within ${WAIT_S}s; last lines of $LOG:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
