#!/usr/bin/env bash
# Make sure Debian's chromium and chromium-driver are installed: the dashboard's tests drive a
# real headless Chromium through chromedriver. Installs them (root on Debian) when missing, the way
# ensure-docker.sh installs docker.io. Idempotent; returns at once when both are there.
set -euo pipefail

have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

if have; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium and chromedriver are needed for the dashboard tests (tests/ui)." >&2
    echo "ensure-chromium: as root on Debian this script installs them; elsewhere install chromium and" >&2
    echo "ensure-chromium: its matching chromedriver so both are on PATH, then rerun." >&2
    exit 1
fi

echo "ensure-chromium: installing chromium chromium-driver ..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null

if ! have; then
    echo "ensure-chromium: apt-get installed chromium chromium-driver, yet chromium or chromedriver is not on PATH." >&2
    exit 1
fi
