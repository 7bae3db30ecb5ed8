#!/usr/bin/env bash
# lifeboat on S3 against lifeboat on a local disk and restic on the same S3, in one run on one
# machine (ratios between them are what counts; absolute times drift). The store is a Garage
# cluster on loopback started by scripts/garage. The numbers go to docs/BENCHMARKS.md.
#
#   benches/s3.sh [DATA_DIR]        (default DATA_DIR: /tmp/lifeboat-s3-bench-data)
#
# Environment:
#   LIFEBOAT_BENCH_DIR  bench material (mkdataset.py); default ../shared/bench
#   MODEL_MIB           model part of the dataset in MiB (default 512)
#   NODES               Garage nodes (default 1; 3 gives replication factor 3)
#   WORK                scratch directory (default /tmp/lifeboat-s3-bench)
#   LIFEBOAT_BIN        the binary (default: target/release/lifeboat, built if missing)
#
# Phases, each timed with /usr/bin/time (wall, user, sys, peak RSS): lifeboat first snapshot to
# a local directory; to S3; unchanged re-snapshot to S3; restore from S3 (byte-compared with
# the data); restic backup to the same Garage and restore from it. Request counts per phase
# come from Garage's own metrics when available, else are left out.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
bench_dir=${LIFEBOAT_BENCH_DIR:-$repo_root/../shared/bench}
data=${1:-/tmp/lifeboat-s3-bench-data}
model_mib=${MODEL_MIB:-512}
nodes=${NODES:-1}
work=${WORK:-/tmp/lifeboat-s3-bench}
bin=${LIFEBOAT_BIN:-$repo_root/target/release/lifeboat}

command -v restic >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic; }
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
python3 -c 'import numpy' 2>/dev/null || pip install -q numpy
[ -x "$bin" ] || (cd "$repo_root" && cargo build --release --bin lifeboat)
"$repo_root/scripts/garage" install

marker=.lifeboat-s3-bench-dataset
if [ ! -f "$data/$marker" ]; then
  if [ -e "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
    echo "$data exists and was not made by this script; give another DATA_DIR" >&2
    exit 1
  fi
  echo "== dataset: mkdataset.py $data --model-mib $model_mib"
  python3 "$bench_dir/mkdataset.py" "$data" --model-mib "$model_mib" >/dev/null
  touch "$data/$marker"
fi
data_bytes=$(du -sb "$data" | cut -f1)

rm -rf "$work"
mkdir -p "$work"
cluster=$work/garage
mkdir -p "$cluster"
"$repo_root/scripts/garage" start "$cluster" "$nodes" >/dev/null
trap '"$repo_root/scripts/garage" stop "$cluster" >/dev/null 2>&1 || true' EXIT
set -a
# shellcheck disable=SC1091
. "$cluster/env.sh"
set +a
export LIFEBOAT_PASSWORD=benchpass RESTIC_PASSWORD=benchpass LIFEBOAT_NO_CONFIG=1
export LIFEBOAT_CACHE_DIR=$work/cache
s3_lifeboat="s3:$S3_ENDPOINT/$S3_BUCKET/lifeboat"
s3_restic="s3:$S3_ENDPOINT/$S3_BUCKET/restic"
kdf=(--kdf-memory 64 --kdf-iterations 3 --kdf-parallelism 2)

results=$work/results.tsv
printf 'phase\twall_s\tuser_s\tsys_s\tmaxrss_kib\n' >"$results"
timed() { # timed PHASE CMD...
  local phase=$1
  shift
  sync
  echo "== $phase"
  /usr/bin/time -f "$phase\t%e\t%U\t%S\t%M" -a -o "$results" "$@" >/dev/null
}
same_tree() { # same_tree RESTORED_ROOT
  diff -r --no-dereference "$data" "$1$data" >/dev/null || { echo "restored tree differs: $1" >&2; exit 1; }
}

"$bin" --repo "$work/local" init "${kdf[@]}" >/dev/null
"$bin" --repo "$s3_lifeboat" init "${kdf[@]}" >/dev/null
restic -q -r "$s3_restic" init >/dev/null

timed "lifeboat local: first snapshot" "$bin" --repo "$work/local" snapshot "$data"
timed "lifeboat s3: first snapshot" "$bin" --repo "$s3_lifeboat" snapshot "$data"
timed "lifeboat s3: unchanged re-snapshot" "$bin" --repo "$s3_lifeboat" snapshot "$data"
timed "restic s3: first backup" restic -q -r "$s3_restic" backup --compression auto "$data"
timed "restic s3: unchanged re-backup" restic -q -r "$s3_restic" backup --compression auto "$data"
timed "lifeboat s3: restore" "$bin" --repo "$s3_lifeboat" restore latest --target "$work/r-lifeboat"
same_tree "$work/r-lifeboat"
rm -rf "$work/r-lifeboat"
timed "lifeboat s3: restore --no-sync" "$bin" --repo "$s3_lifeboat" restore latest --no-sync --target "$work/r-lifeboat"
same_tree "$work/r-lifeboat"
rm -rf "$work/r-lifeboat"
sync
timed "restic s3: restore" restic -q -r "$s3_restic" restore latest --target "$work/r-restic"
same_tree "$work/r-restic"
rm -rf "$work/r-restic"
timed "lifeboat s3: verify --read-data" "$bin" --repo "$s3_lifeboat" verify --read-data

echo
echo "dataset: $data ($((data_bytes / 1000000)) MB), Garage $(garage --version 2>/dev/null | head -1 | awk '{print $2}'), $nodes node(s)"
python3 - "$results" <<'EOF'
import sys, csv
rows = {r["phase"]: r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t")}
print("| phase | wall s | user s | sys s | peak RSS |")
print("|---|---:|---:|---:|---:|")
for p, r in rows.items():
    print(f"| {p} | {float(r['wall_s']):.2f} | {float(r['user_s']):.2f} | {float(r['sys_s']):.2f} | {int(r['maxrss_kib'])//1024} MiB |")
w = lambda p: float(rows[p]["wall_s"])
print()
print("| target | measured | met |")
print("|---|---|---|")
def line(name, value, ok):
    print(f"| {name} | {value} | {'yes' if ok else 'NO'} |")
r = w("lifeboat s3: first snapshot") / w("lifeboat local: first snapshot")
line("first snapshot to S3 ≤ 1.3x the local one", f"{r:.2f}x", r <= 1.3)
r = w("restic s3: first backup") / w("lifeboat s3: first snapshot")
line("first snapshot to S3 ≥ 2x faster than restic's", f"{r:.2f}x", r >= 2)
v = w("lifeboat s3: unchanged re-snapshot")
line("unchanged re-snapshot to S3 ≤ 0.5 s", f"{v:.2f} s", v <= 0.5)
r = w("restic s3: restore") / w("lifeboat s3: restore")
line("restore from S3 at least as fast as restic's (lifeboat flushes to disk, restic does not)", f"{r:.2f}x", r >= 1)
r = w("restic s3: restore") / w("lifeboat s3: restore --no-sync")
line("... the same without lifeboat's final flush (--no-sync)", f"{r:.2f}x", r >= 1)
m = max(int(rows[p]["maxrss_kib"]) for p in rows if p.startswith("lifeboat")) // 1024
line("peak memory under 512 MiB", f"{m} MiB", m < 512)
EOF
