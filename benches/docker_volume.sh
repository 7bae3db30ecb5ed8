#!/usr/bin/env bash
# Snapshot of a container with a large volume and its image, against the docker-native ways,
# in one run on one engine:
#   tar_zstd: docker run --rm -v VOL:/v IMAGE tar -c /v | zstd -3 -T0 > file   (the peer)
#   cp_zstd:  docker cp CONTAINER:MOUNT - | zstd -3 -T0 > file                  (archive endpoint)
#
#   benches/docker_volume.sh CONTAINER VOLUME IMAGE [RUNS]      (MOUNT env: default /v)
#
# Prints wall seconds per run for both peers, a first lifeboat snapshot into a new repository
# (local mountpoint read), the same through the Engine API (--volumes-via-api), and an
# unchanged re-snapshot. lifeboat's runs also store the image (docker save); the peers do not.
# Needs root (or the docker group), zstd and bc.
set -euo pipefail
container=$1 volume=$2 image=$3 runs=${4:-3} mount=${MOUNT:-/v}
lb=${LIFEBOAT_BIN:-$(dirname "$0")/../target/release/lifeboat}
work=$(mktemp -d /tmp/lifeboat-dockerbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export LIFEBOAT_PASSWORD=bench
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
printf 'run\ttar_zstd\tcp_zstd\tlifeboat_local\tlifeboat_api\tlifeboat_unchanged\n'
for i in $(seq 1 "$runs"); do
  sync
  a=$(t bash -c "docker run --rm -v $volume:/v $image tar -c /v | zstd -3 -T0 -q > $work/out.tar.zst")
  rm -f "$work/out.tar.zst"
  sync
  a2=$(t bash -c "docker cp $container:$mount - | zstd -3 -T0 -q > $work/out.tar.zst")
  rm -f "$work/out.tar.zst"
  rm -rf "$work/r1" "$work/r2"
  "$lb" --repo "$work/r1" init >/dev/null
  "$lb" --repo "$work/r2" init >/dev/null
  sync
  b=$(t "$lb" --repo "$work/r1" snapshot --container "$container")
  sync
  c=$(t "$lb" --repo "$work/r2" snapshot --container "$container" --volumes-via-api)
  d=$(t "$lb" --repo "$work/r1" snapshot --container "$container")
  printf '%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n' "$i" "$a" "$a2" "$b" "$c" "$d"
done
