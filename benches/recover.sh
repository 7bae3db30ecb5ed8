#!/usr/bin/env bash
# `lifeboat recover` onto a bare engine against the same recovery done by hand, in one run on
# one machine (the ratio is what counts). The numbers go to docs/BENCHMARKS.md.
#
#   benches/recover.sh
#
# Environment:
#   SIZE_MIB     size of each of the three parts (image layer, volume, models); default 1024
#   WORK         scratch directory (default /tmp/lifeboat-recover-bench)
#   LIFEBOAT_BIN the binary (default: target/release/lifeboat, built if missing)
#   ROUNDS       how many times each way is timed (default 2; the best of each is compared)
#
# The deployment: an image with a SIZE_MIB layer (docker import of a rootfs made from
# busybox-static plus a weights file), a named volume holding SIZE_MIB of files, a models
# directory of SIZE_MIB bind-mounted read-only, a user network with a static IP and aliases,
# and a container that uses all of it with a dozen settings. The backup side (not timed):
# lifeboat snapshots it into a local repository; the by-hand way keeps `docker save` of the
# image, a tar of the volume and a tar of the models.
#
# Timed, onto a fresh bare engine each round (its own data root, in its own network
# namespace; both ways end with `sync`):
#   by hand:  docker load < image.tar; docker network create ...; docker volume create;
#             docker run --rm -i -v VOL:/data IMAGE tar -x -C /data < volume.tar;
#             tar -x -C TARGET < models.tar; docker create ... (the flags as written in this
#             script); docker start
#   lifeboat: lifeboat recover --docker-host unix://SOCK --target TARGET --only files,docker
#             --no-sync (then sync), which also reads every file back and compares it.
# After each, the recovered container's inspect is compared with the original one field by
# field (lifeboat's report for recover; for the by-hand way, `lifeboat diff --live` style
# comparison done here in Python on the replayable fields).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${SIZE_MIB:-1024}
work=${WORK:-/tmp/lifeboat-recover-bench}
bin=${LIFEBOAT_BIN:-$repo_root/target/release/lifeboat}
rounds=${ROUNDS:-2}

[ "$(id -u)" -eq 0 ] || { echo "needs root (a second dockerd)" >&2; exit 1; }
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
[ -x /bin/busybox ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static
[ -x "$bin" ] || (cd "$repo_root" && cargo build --release --bin lifeboat)

px=lbbench$$
img=$px-img:1
net=$px-net
vol=$px-data
ctr=$px-app
rm -rf "$work"
mkdir -p "$work"
bare=""
cleanup() {
  stop_bare
  docker rm -f "$ctr" >/dev/null 2>&1 || true
  docker volume rm "$vol" >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  docker rmi -f "$img" >/dev/null 2>&1 || true
}
trap cleanup EXIT

start_bare() {
  bare=$work/bare
  rm -rf "$bare"
  mkdir -p "$bare/data" "$bare/exec"
  echo '{}' >"$bare/daemon.json"
  unshare -n sh -c "ip link set lo up 2>/dev/null; exec dockerd --data-root $bare/data --exec-root $bare/exec -H unix://$bare/sock --pidfile $bare/pid --config-file $bare/daemon.json" >"$bare/log" 2>&1 &
  for _ in $(seq 150); do
    docker -H "unix://$bare/sock" version >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "bare engine did not start:" >&2
  tail -20 "$bare/log" >&2
  exit 1
}

stop_bare() {
  [ -n "$bare" ] && [ -f "$bare/pid" ] || return 0
  local ids
  ids=$(docker -H "unix://$bare/sock" ps -aq 2>/dev/null || true)
  [ -z "$ids" ] || docker -H "unix://$bare/sock" rm -f -v $ids >/dev/null 2>&1 || true
  local pid
  pid=$(cat "$bare/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  grep " $bare/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$bare"
  bare=""
}

echo "== the deployment: ${size_mib} MiB image layer, ${size_mib} MiB volume, ${size_mib} MiB models"
rootfs=$work/rootfs
mkdir -p "$rootfs/bin" "$rootfs/opt/weights" "$rootfs/tmp" "$rootfs/data"
cp /bin/busybox "$rootfs/bin/busybox"
for t in sh tar sleep test cat; do ln -sf busybox "$rootfs/bin/$t"; done
python3 - "$rootfs/opt/weights" "$size_mib" <<'PY'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
# fp16-like weights: compressible exponents, random mantissas (as real model layers).
table = bytes((0x38 + (x & 7)) for x in range(256))
chunk = 8 << 20
for i in range(max(1, mib // 256)):
    with open(os.path.join(d, f"layer{i}.bin"), "wb") as f:
        left = min(256, mib - i * 256) << 20
        while left > 0:
            n = min(chunk, left)
            b = bytearray(os.urandom(n))
            b[1::2] = bytes(b[1::2]).translate(table)
            f.write(b)
            left -= n
PY
tar -C "$rootfs" -c . | docker import -c 'CMD ["sh"]' - "$img" >/dev/null
docker network create --subnet 10.233.7.0/24 --label bench=1 "$net" >/dev/null
docker volume create --label bench=1 "$vol" >/dev/null
models=$work/srv/models
mkdir -p "$models"
python3 - "$models" "$size_mib" <<'PY'
import os, sys
d, mib = sys.argv[1], int(sys.argv[2])
table = bytes((0x3c + (x & 3)) for x in range(256))
for i in range(max(1, mib // 128)):
    with open(os.path.join(d, f"shard-{i:03d}.safetensors"), "wb") as f:
        left = min(128, mib - i * 128) << 20
        while left > 0:
            n = min(8 << 20, left)
            b = bytearray(os.urandom(n))
            b[1::2] = bytes(b[1::2]).translate(table)
            f.write(b)
            left -= n
PY
docker run --rm -v "$vol:/data" "$img" sh -c "
  i=0; while [ \$i -lt $((size_mib / 64)) ]; do
    cat /opt/weights/layer0.bin | head -c 67108864 > /data/part\$i.bin; i=\$((i+1)); done
  mkdir -p /data/db && echo rows > /data/db/t && chown -R 999:999 /data/db"
run_flags=(--name "$ctr" --network "$net" --ip 10.233.7.10 --network-alias api
  --network-alias inference -v "$vol:/data" -v "$models:/models:ro" --tmpfs /run2:size=8m
  -e MODE=prod -e THREADS=2 -l tier=backend -w /data --restart unless-stopped -m 512m
  --cpu-shares 512 --pids-limit 200 --shm-size 256m --init --cap-drop MKNOD
  --health-cmd 'test -d /data' --health-interval 1s)
docker run -d "${run_flags[@]}" "$img" sh -c 'while :; do sleep 1; done' >/dev/null
docker inspect "$ctr" >"$work/orig.json"

echo "== backup side (not timed)"
export LIFEBOAT_PASSWORD=benchpass LIFEBOAT_NO_CONFIG=1
repo=$work/repo
"$bin" --repo "$repo" init --kdf-memory 8 --kdf-iterations 1 >/dev/null
"$bin" --repo "$repo" snapshot --container "$ctr" "$models" >/dev/null
docker save "$img" >"$work/image.tar"
docker run --rm -v "$vol:/data" "$img" tar -c -C /data . >"$work/volume.tar"
tar -c -C "$models" . >"$work/models.tar"

compare_py='
import json, sys
def norm(v):
    c = json.load(open(v))[0]
    keep = {"Config": c["Config"], "HostConfig": c["HostConfig"], "Mounts": sorted(c["Mounts"], key=lambda m: m["Destination"])}
    for k in ("Hostname",):
        keep["Config"].pop(k, None)
    for m in keep["Mounts"]:
        if m.get("Type") == "volume": m.pop("Source", None)
    nets = {}
    for n, e in (c["NetworkSettings"]["Networks"] or {}).items():
        nets[n] = {"IPAMConfig": e.get("IPAMConfig"), "Aliases": sorted(a for a in (e.get("Aliases") or []) if a != c["Id"][:12])}
    keep["Networks"] = nets
    return keep
def diff(p, a, b, out):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)): diff(p + "." + k, a.get(k), b.get(k), out)
    elif a != b: out.append(f"{p}: {a!r} vs {b!r}")
out = []
diff("", norm(sys.argv[1]), norm(sys.argv[2]), out)
print(len(out))
for l in out[:12]: print("   ", l, file=sys.stderr)
'

by_hand() {
  local target=$1 h="unix://$bare/sock"
  docker -H "$h" load <"$work/image.tar" >/dev/null
  docker -H "$h" network create --subnet 10.233.7.0/24 --label bench=1 "$net" >/dev/null
  docker -H "$h" volume create --label bench=1 "$vol" >/dev/null
  docker -H "$h" run --rm -i -v "$vol:/data" "$img" tar -x -C /data <"$work/volume.tar"
  mkdir -p "$target$models"
  tar -x -C "$target$models" <"$work/models.tar"
  docker -H "$h" create "${run_flags[@]}" "$img" sh -c 'while :; do sleep 1; done' >/dev/null
  docker -H "$h" start "$ctr" >/dev/null
  sync
}

with_lifeboat() {
  local target=$1
  "$bin" --repo "$repo" recover --docker-host "unix://$bare/sock" --target "$target" \
    --only files,docker --no-sync --state-dir "$work/state" --quiet >"$work/recover.out"
  sync
}

timeit() { # name, command...: prints seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

declare -a hand_t lb_t
for r in $(seq "$rounds"); do
  for way in hand lifeboat; do
    start_bare
    target=$work/target-$way
    rm -rf "$target" "$work/state"
    mkdir -p "$target"
    sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    if [ $way = hand ]; then
      t=$(timeit by_hand "$target"); hand_t+=("$t")
    else
      t=$(timeit with_lifeboat "$target"); lb_t+=("$t")
    fi
    docker -H "unix://$bare/sock" inspect "$ctr" >"$work/$way.json"
    d=$(python3 -c "$compare_py" "$work/orig.json" "$work/$way.json" 2>"$work/$way.diff")
    echo "round $r $way: ${t}s, inspect fields differing from the original: $d"
    [ "$d" = 0 ] || sed 's/^/    /' "$work/$way.diff"
    stop_bare
  done
done
best() { printf '%s\n' "$@" | sort -n | head -1; }
bh=$(best "${hand_t[@]}"); bl=$(best "${lb_t[@]}")
echo
echo "best of $rounds: by hand ${bh}s, lifeboat recover ${bl}s, ratio $(python3 -c "print(f'{$bl / $bh:.2f}')")x"
grep -E "verified|exact" "$work/recover.out" || true
