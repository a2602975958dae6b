#!/usr/bin/env bash
# Make sure Debian's haproxy (2.4 or newer: the load balancer's data plane adds and removes
# servers at run time through the Runtime API's `add server`, which 2.4 introduced) is installed.
# Idempotent; returns at once when a recent enough haproxy is on PATH or in /usr/sbin. Only the
# binary is used: the control plane starts its own haproxy processes, never the system service.
set -euo pipefail

MIN_MAJOR=2
MIN_MINOR=4

find_haproxy() {
    command -v haproxy 2>/dev/null || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; } || true
}

recent_enough() {
    local bin=$1 version
    version=$("$bin" -v 2>/dev/null | sed -n 's/^HA-\?Proxy version \([0-9]\+\)\.\([0-9]\+\).*/\1 \2/p' | head -1)
    [ -n "$version" ] || return 1
    set -- $version
    [ "$1" -gt "$MIN_MAJOR" ] || { [ "$1" -eq "$MIN_MAJOR" ] && [ "$2" -ge "$MIN_MINOR" ]; }
}

bin=$(find_haproxy)
if [ -n "$bin" ] && recent_enough "$bin"; then
    exit 0
fi
if [ -n "$bin" ]; then
    echo "ensure-haproxy: $bin is $("$bin" -v 2>/dev/null | head -1); the load balancer needs HAProxy" \
        "$MIN_MAJOR.$MIN_MINOR or newer (Runtime API 'add server')." >&2
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-haproxy: HAProxy >= $MIN_MAJOR.$MIN_MINOR is not installed and this script can only install it" \
        "as root on Debian (apt-get install haproxy)." >&2
    echo "ensure-haproxy: install it with your system's package manager (Debian/Ubuntu: apt-get install haproxy)," \
        "then rerun." >&2
    exit 1
fi

echo "ensure-haproxy: installing haproxy ..." >&2
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d keeps the package from starting the system-wide haproxy service: the control plane
# runs its own instances with their own configurations.
had_policy=0
[ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ "$had_policy" = 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
fi
status=0
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends haproxy >/dev/null; } || status=$?
[ "$had_policy" = 0 ] && rm -f /usr/sbin/policy-rc.d
if [ "$status" -ne 0 ]; then
    echo "ensure-haproxy: apt-get install haproxy failed (exit $status); install it by hand and rerun." >&2
    exit 1
fi

bin=$(find_haproxy)
if [ -z "$bin" ] || ! recent_enough "$bin"; then
    echo "ensure-haproxy: the installed haproxy (${bin:-none}) is older than $MIN_MAJOR.$MIN_MINOR;" \
        "install a newer one (e.g. from haproxy.debian.net) and rerun." >&2
    exit 1
fi
echo "ensure-haproxy: $("$bin" -v | head -1)" >&2
