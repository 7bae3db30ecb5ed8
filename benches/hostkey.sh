#!/usr/bin/env bash
# Write-only host keys (issue 14) against the owner's password, in one run on one machine (the
# ratios are what counts). The numbers go to docs/BENCHMARKS.md.
#
#   benches/hostkey.sh
#
# Environment:
#   MODEL_MIB    model size of the dataset (../shared/bench/mkdataset.py --model-mib); default 512
#   WORK         scratch directory (default /tmp/lifeboat-hostkey-bench)
#   LIFEBOAT_BIN the binary (default: target/release/lifeboat, built if missing)
#   ROUNDS       how many times each timed step runs (default 3; the best is reported)
#
# Steps, each onto a fresh repository in WORK with caches dropped first when run as root:
#   owner first:   `snapshot DATASET` with the owner's password
#   host first:    the same with a host key (`--key-file`), its cache empty
#   host again:    an unchanged re-snapshot with the host key (its cache in place)
#   cross-host:    host A snapshots the dataset, the owner runs `verify --read-data` (which
#                  publishes the verified list), host B snapshots a directory holding a copy of
#                  one model shard: what B stores for it is the measure (0 = deduplicated)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL_MIB=${MODEL_MIB:-512}
WORK=${WORK:-/tmp/lifeboat-hostkey-bench}
ROUNDS=${ROUNDS:-3}
BIN=${LIFEBOAT_BIN:-$PWD/target/release/lifeboat}
[ -x "$BIN" ] || cargo build --release --quiet
SHARED=$(cd .. && pwd)/shared/bench
[ -d "$SHARED" ] || SHARED=/work/shared/bench

rm -rf "$WORK"
mkdir -p "$WORK"
DATA=$WORK/data
python3 "$SHARED/mkdataset.py" "$DATA" --model-mib "$MODEL_MIB" >/dev/null
echo "pw-$RANDOM-$RANDOM" >"$WORK/pw"
chmod 600 "$WORK/pw"
export LIFEBOAT_PASSWORD_FILE=$WORK/pw LIFEBOAT_NO_CONFIG=1
KDF=(--kdf-memory 8 --kdf-iterations 1 --kdf-parallelism 1)

drop_caches() {
  sync
  if [ "$(id -u)" -eq 0 ]; then echo 3 >/proc/sys/vm/drop_caches; fi
}

# seconds of wall time of a command (its output discarded)
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}

best() { printf '%s\n' "$@" | sort -g | head -n1; }

fresh_repo() {
  rm -rf "$WORK/repo" "$WORK/cache-"*
  "$BIN" --repo "$WORK/repo" init "${KDF[@]}" >/dev/null
}

host_key() { # NAME -> key file path
  rm -f "$WORK/$1.key"
  "$BIN" --repo "$WORK/repo" key add --write-only --hostname "$1" --output "$WORK/$1.key" >/dev/null
  echo "$WORK/$1.key"
}

as_host() { # KEY CACHE ARGS...
  local key=$1 cache=$2
  shift 2
  env -u LIFEBOAT_PASSWORD_FILE LIFEBOAT_KEY_FILE="$key" XDG_CACHE_HOME="$cache" \
    "$BIN" --repo "$WORK/repo" "$@"
}

owner_first=() host_first=() host_again=()
for _ in $(seq "$ROUNDS"); do
  fresh_repo
  drop_caches
  owner_first+=("$(timed "$BIN" --repo "$WORK/repo" snapshot "$DATA")")
  fresh_repo
  key=$(host_key gpu-01)
  drop_caches
  host_first+=("$(timed as_host "$key" "$WORK/cache-a" snapshot "$DATA")")
  host_again+=("$(timed as_host "$key" "$WORK/cache-a" snapshot "$DATA")")
done

# Cross-host deduplication of a shard both hosts hold.
fresh_repo
key_a=$(host_key host-a)
key_b=$(host_key host-b)
as_host "$key_a" "$WORK/cache-a" snapshot "$DATA" >/dev/null
shard=$(find "$DATA" -name '*.safetensors' -size +1M | sort | head -n1)
mkdir -p "$WORK/b"
cp "$shard" "$WORK/b/"
shard_bytes=$(stat -c %s "$shard")
before_verify=$(as_host "$key_b" "$WORK/cache-b0" --json snapshot "$WORK/b" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["raw_added"])')
"$BIN" --repo "$WORK/repo" verify --read-data >/dev/null
after_verify=$(as_host "$key_b" "$WORK/cache-b" --json snapshot "$WORK/b" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["raw_added"])')

o=$(best "${owner_first[@]}")
h=$(best "${host_first[@]}")
a=$(best "${host_again[@]}")
data_bytes=$(du -sb "$DATA" | cut -f1)
echo "dataset: $DATA, $((data_bytes >> 20)) MiB (mkdataset.py --model-mib $MODEL_MIB); best of $ROUNDS"
echo
echo "| step | time |"
echo "|---|---|"
echo "| first snapshot, owner password | ${o} s |"
echo "| first snapshot, host key | ${h} s ($(python3 -c "print(f'{$h / $o:.2f}')")x the owner's; target at most 1.1x) |"
echo "| unchanged re-snapshot, host key | ${a} s (target at most 0.5 s) |"
echo
echo "| cross-host: host B snapshots a copy of $(basename "$shard") ($((shard_bytes >> 20)) MiB) that host A stored | stored by B |"
echo "|---|---|"
echo "| before the owner's verify --read-data (B trusts only its own uploads) | ${before_verify} bytes |"
echo "| after it (B deduplicates against the verified list) | ${after_verify} bytes |"
