#!/usr/bin/env bash
# Build the project's local images (orch/busybox, orch/web, orch/cpu-web) from images/<name>/
# without any registry: FROM scratch plus Debian's static busybox. Each image carries a label with
# a hash of its inputs, and is rebuilt only when that hash changes, so reruns take a second.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGES_DIR="$ROOT/images"
# Outside the orch.* namespace: image labels show up on containers, and orch.* ones mean task metadata.
HASH_LABEL=io.local-ecs.inputs-hash
BUSYBOX=${ORCH_BUSYBOX:-/bin/busybox}

is_static_busybox() {
    [ -x "$1" ] && "$1" --help >/dev/null 2>&1 && ! (ldd "$1" >/dev/null 2>&1)
}

if ! is_static_busybox "$BUSYBOX"; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "build-images: installing busybox-static ..." >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq busybox-static >/dev/null
    fi
    if ! is_static_busybox "$BUSYBOX"; then
        echo "build-images: need a static busybox at $BUSYBOX (Debian: apt-get install busybox-static)." >&2
        exit 1
    fi
fi

"$ROOT/scripts/ensure-docker.sh"

# The classic builder needs no buildx plugin; use BuildKit only where buildx is installed.
if [ -z "${DOCKER_BUILDKIT:-}" ]; then
    if docker buildx version >/dev/null 2>&1; then
        export DOCKER_BUILDKIT=1
    else
        export DOCKER_BUILDKIT=0
    fi
fi

# Hash of every file in a directory (names and contents) plus extra strings, e.g. a parent's hash.
inputs_hash() {
    local dir=$1
    shift
    {
        (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
        # Permissions matter too (the CGI script must stay executable).
        (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%a %n')
        printf '%s\n' "$@"
    } | sha256sum | cut -c1-64
}

current_hash() {
    docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true
}

# build <name> <context dir> <hash>: build orch/<name>:latest unless it already carries <hash>.
build() {
    local tag="orch/$1:latest" context=$2 hash=$3
    if [ "$(current_hash "$tag")" = "$hash" ]; then
        echo "build-images: $tag is up to date" >&2
        return 0
    fi
    echo "build-images: building $tag ..." >&2
    local out
    # Quiet on success (the classic builder prints a deprecation notice); the whole log on failure.
    if ! out=$(docker build --label "$HASH_LABEL=$hash" -t "$tag" "$context" 2>&1); then
        echo "$out" >&2
        echo "build-images: building $tag failed" >&2
        return 1
    fi
}

# The busybox binary joins the context in a temporary directory, so the repo holds no binary.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$IMAGES_DIR/busybox/." "$tmp/"
cp "$BUSYBOX" "$tmp/busybox"
busybox_hash=$(inputs_hash "$tmp")
build busybox "$tmp" "$busybox_hash"

for name in web cpu-web; do
    build "$name" "$IMAGES_DIR/$name" "$(inputs_hash "$IMAGES_DIR/$name" "base=$busybox_hash")"
done

# The builder leaves untagged images behind when a rebuild replaces a tag.
docker image prune -f --filter "label=$HASH_LABEL" >/dev/null 2>&1 || true
