#!/usr/bin/env bash
# Runs the hostile-input, limits, identity, TLS, backup, fuzz and chaos tests and prints the
# figures each one measures (the lines the README's reliability table is made from).
set -euo pipefail
cd "$(dirname "$0")/.."
./.venv/bin/pytest -q -s -p no:cacheprovider tests/reliability tests/fuzz tests/chaos 2>&1 \
  | grep -E "^(tests/\S+ )?(RSS|log written|backup while|schemathesis:|ECS fuzz:|round [0-9]+:|chaos:)|passed|failed" \
  | sed -E 's#^tests/\S+ ##'
