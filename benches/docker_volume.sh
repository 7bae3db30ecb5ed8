#!/usr/bin/env bash
# Snapshot of a container with a large volume and its image, against the docker-native way
# (`docker run --rm -v VOL:/v IMAGE tar -c /v | zstd -3 -T0 > file`), in one run on one engine.
#
#   benches/docker_volume.sh CONTAINER VOLUME IMAGE [RUNS]
#
# Prints wall seconds per run for: the tar|zstd pipeline, a first lifeboat snapshot into a new
# repository (local mountpoint read), the same through the Engine API (--volumes-via-api), and
# an unchanged re-snapshot. Needs root (or docker group) and zstd.
set -euo pipefail
container=$1 volume=$2 image=$3 runs=${4:-3}
lb=${LIFEBOAT_BIN:-$(dirname "$0")/../target/release/lifeboat}
work=$(mktemp -d /tmp/lifeboat-dockerbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export LIFEBOAT_PASSWORD=bench
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
printf 'run\ttar_zstd\tlifeboat_local\tlifeboat_api\tlifeboat_unchanged\n'
for i in $(seq 1 "$runs"); do
  sync
  a=$(t bash -c "docker run --rm -v $volume:/v $image tar -c /v | zstd -3 -T0 -q > $work/out.tar.zst")
  rm -f "$work/out.tar.zst"
  rm -rf "$work/r1" "$work/r2"
  "$lb" --repo "$work/r1" init >/dev/null
  "$lb" --repo "$work/r2" init >/dev/null
  sync
  b=$(t "$lb" --repo "$work/r1" snapshot --container "$container")
  sync
  c=$(t "$lb" --repo "$work/r2" snapshot --container "$container" --volumes-via-api)
  d=$(t "$lb" --repo "$work/r1" snapshot --container "$container")
  printf '%s\t%.2f\t%.2f\t%.2f\t%.2f\n' "$i" "$a" "$b" "$c" "$d"
done
