#!/usr/bin/env bash
# `lifeboat update` against the by-hand update with the docker CLI, in one run on one engine.
# Target: an update of a container with a 1 GiB volume, when a snapshot from the day before is in
# the repository, takes less than 2 s more than `docker stop && docker rm && docker run` with the
# same options.
#
#   benches/update.sh [ROUNDS]          (default 3; LIFEBOAT_BIN overrides the binary)
#
# Sets up lifeboat-test:1/:2 (scripts/test-image), a volume with 1 GiB of random data (8 files
# of 128 MiB), a container using it with env, labels, a published port, a restart policy,
# a memory limit and --init, a repository (default key-derivation settings: opening it is part
# of every update, as for a user) and a first `lifeboat snapshot --container` ("the day
# before"). Then, each round:
#   lifeboat: lifeboat update NAME --image IMG --healthy-after 0s   (pre-update snapshot,
#             stop, rename aside, create, start, health gate passed at the first poll, remove)
#   docker:   docker stop NAME && docker rm NAME && docker run -d --name NAME ...same... IMG
# (lifeboat-test:1 -> :2 by lifeboat, :2 -> :1 by the docker CLI) and prints both wall times and
# the difference. `--healthy-after 0s` because `docker run -d` does not wait either; the default
# 30 s gate (or a healthcheck) adds exactly that wait.
# Needs root (or the docker group) and bc. Everything it creates is removed at the end.
set -euo pipefail
rounds=${1:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
lb=${LIFEBOAT_BIN:-$root/target/release/lifeboat}
work=$(mktemp -d /tmp/lifeboat-updbench.XXXXXX)
name=lbbench-upd-$$
vol=$name-vol
port=$((20000 + $$ % 20000))
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  for c in $(docker ps -aq --filter "name=^/$name"); do docker rm -f "$c" >/dev/null 2>&1 || true; done
  docker volume rm -f "$vol" >/dev/null 2>&1 || true
  for v in $(cat "$work/anon" 2>/dev/null | sort -u); do docker volume rm -f "$v" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
export LIFEBOAT_PASSWORD=bench LIFEBOAT_REPO=$work/repo

"$root/scripts/test-image"
# Stops at once on SIGTERM (`wait` is interrupted by the signal, `sleep` would not be).
cmd="trap 'exit 0' TERM INT; while :; do sleep 1 & wait \$!; done"
opts=(--name "$name" --init -e MODE=bench -e API_TOKEN=not-shown -l lbbench=update
  -v "$vol:/data" -p "127.0.0.1:$port:8080" --restart unless-stopped --memory 256m)

docker volume create "$vol" >/dev/null
docker run --rm -v "$vol:/data" lifeboat-test:1 sh -c \
  'for i in 1 2 3 4 5 6 7 8; do head -c 134217728 /dev/urandom > /data/weights-$i.bin; done'
docker run -d "${opts[@]}" lifeboat-test:1 sh -c "$cmd" >/dev/null
anon() { docker inspect -f '{{range .Mounts}}{{if eq .Destination "/imgvol"}}{{.Name}}{{end}}{{end}}' "$name" >>"$work/anon"; }
anon
"$lb" init >/dev/null 2>&1
s=$(date +%s.%N)
"$lb" snapshot --container "$name" >/dev/null
e=$(date +%s.%N)
printf 'first snapshot (the day before): %.2fs, %s in the volume\n' "$(echo "$e - $s" | bc)" \
  "$(du -sh "$(docker volume inspect -f '{{.Mountpoint}}' "$vol")" | cut -f1)"

t() { local s e; s=$(date +%s.%N); "$@" >"$work/out" 2>"$work/err" || { cat "$work/out" "$work/err" >&2; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc; }
# lifeboat updates :1 -> :2, the docker CLI recreates :2 -> :1: every step changes the image.
images=(lifeboat-test:2 lifeboat-test:1)
sum_lb=0 sum_dk=0
printf 'round\tlifeboat_update\tdocker_cli\tdifference\t(pre-update snapshot)\n'
for r in $(seq 1 "$rounds"); do
  sync
  a=$(t "$lb" update "$name" --image "${images[0]}" --healthy-after 0s --state-dir "$work/state")
  snap=$(sed -n 's/^snapshot .*, \([0-9.]*s\))$/\1/p' "$work/out")
  anon
  sync
  b=$(t bash -c "docker stop $name && docker rm $name && docker run -d $(printf '%q ' "${opts[@]}") ${images[1]} sh -c $(printf '%q' "$cmd")")
  anon
  printf '%s\t%.2f\t\t%.2f\t\t%+.2f\t\t(%s)\n' "$r" "$a" "$b" "$(echo "$a - $b" | bc)" "$snap"
  sum_lb=$(echo "$sum_lb + $a" | bc) sum_dk=$(echo "$sum_dk + $b" | bc)
done
printf 'mean\t%.2f\t\t%.2f\t\t%+.2f\t\t(target: difference < 2 s)\n' \
  "$(echo "$sum_lb / $rounds" | bc -l)" "$(echo "$sum_dk / $rounds" | bc -l)" \
  "$(echo "($sum_lb - $sum_dk) / $rounds" | bc -l)"
