#!/usr/bin/env bash
# Side-by-side comparison of lifeboat with restic, borg, tar|zstd|age (and rustic with
# --with-rustic) on one generated ML-host dataset, in one run on one machine, so the ratios
# between tools are meaningful (absolute times drift between runs and machines). The numbers go
# to docs/BENCHMARKS.md.
#
#   benches/compare.sh [--with-rustic] [DATA_DIR]     (default DATA_DIR: /tmp/lifeboat-bench-data)
#
# Environment:
#   LIFEBOAT_BENCH_DIR  bench material (mkdataset.py, compare.py); default ../shared/bench
#                       relative to the repository
#   MODEL_MIB           size of the model part of the dataset in MiB (default 1024)
#   WORK                scratch directory for repositories and restores (default /tmp/lifeboat-cmp)
#   TOOLS               comma-separated tool list, overrides the default selection
#
# DATA_DIR is regenerated on every run (the mutation step changes it in place); a directory
# that this script did not create is never deleted.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
bench_dir=${LIFEBOAT_BENCH_DIR:-$repo_root/../shared/bench}
with_rustic=0
data=/tmp/lifeboat-bench-data
for arg in "$@"; do
  case $arg in
    --with-rustic) with_rustic=1 ;;
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) data=$arg ;;
  esac
done
model_mib=${MODEL_MIB:-1024}
work=${WORK:-/tmp/lifeboat-cmp}
marker=.lifeboat-bench-dataset

for f in mkdataset.py compare.py; do
  if [ ! -f "$bench_dir/$f" ]; then
    echo "bench material not found: $bench_dir/$f (set LIFEBOAT_BENCH_DIR)" >&2
    exit 1
  fi
done
bench_dir=$(cd "$bench_dir" && pwd)

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# ---- peers and helpers ----
need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
command -v age >/dev/null || need+=(age)
command -v zstd >/dev/null || need+=(zstd)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
if [ $with_rustic -eq 1 ] && ! command -v "${RUSTIC_BIN:-rustic}" >/dev/null; then
  echo "== installing rustic"
  cargo install --locked rustic-rs
fi
python3 -c 'import numpy' 2>/dev/null || {
  echo "== installing numpy"
  python3 -m pip install -q numpy
}

# ---- lifeboat ----
echo "== building lifeboat (release)"
(cd "$repo_root" && cargo build --release --quiet --bin lifeboat)
target_dir=$(cd "$repo_root" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export LIFEBOAT_BIN=$target_dir/release/lifeboat
"$LIFEBOAT_BIN" --version

# ---- dataset ----
if [ -e "$data" ]; then
  if [ ! -f "$data/$marker" ]; then
    echo "$data exists and was not made by this script; refusing to overwrite it" >&2
    exit 1
  fi
  rm -rf "$data"
fi
# A machine that has been busy holds a full page cache: every tool then pays for reclaiming it
# while it writes, and lifeboat's restore (which ends with syncfs) for other writers' dirty
# pages too. Start from an empty cache where allowed, and with the dataset on disk (it stays
# cached, so every tool reads it warm).
sync
if [ -w /proc/sys/vm/drop_caches ]; then
  echo 3 >/proc/sys/vm/drop_caches
else
  echo "(not root: page cache not dropped; timings depend on what the machine did before)"
fi
echo "== generating dataset in $data (model ${model_mib} MiB)"
mkdir -p "$data"
touch "$data/$marker"
python3 "$bench_dir/mkdataset.py" "$data" --model-mib "$model_mib"
sync
du -sh "$data"

tools=${TOOLS:-lifeboat,restic,borg,tza}
[ $with_rustic -eq 1 ] && [ -z "${TOOLS:-}" ] && tools="$tools,rustic"

# ---- run ----
echo "== comparing: $tools"
table=$(mktemp)
trap 'rm -f "$table"' EXIT
data_bytes=$(du -sb --apparent-size "$data" | cut -f1)
python3 "$bench_dir/compare.py" "$data" --work "$work" --tools "$tools" \
  --mutate-cmd "python3 $bench_dir/mkdataset.py $data --mutate" | tee "$table"

# The disk's durable write speed, measured in the same run on the filesystem the restores
# wrote to: the floor under any restore that ends with its data on disk (lifeboat's syncs).
mkdir -p "$work"
dd_out=$(dd if=/dev/zero of="$work/dd.bin" bs=16M count=64 conv=fdatasync 2>&1 | tail -1)
rm -f "$work/dd.bin"
echo "durable write (dd bs=16M count=64 conv=fdatasync): $dd_out"
dd_seconds=$(echo "$dd_out" | sed -E 's/.* copied, ([0-9.]+) s.*/\1/')

# ---- ratios: lifeboat against each peer, per phase ----
python3 - "$table" "$data_bytes" "$dd_seconds" <<'EOF'
import sys

rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "tool" or len(f) < 7 or f[2] == "FAIL":
        continue
    rows[(f[0], f[1])] = dict(wall=float(f[2]), cpu=float(f[3]) + float(f[4]),
                             rss=int(f[5]), size=int(f[6]) if f[6] else 0)
peers = sorted({t for t, _ in rows if t != "lifeboat"})
phases = ["full", "same", "incr", "restore"]
print()
print("lifeboat vs peers (time/CPU/RSS: peer / lifeboat, >1 = lifeboat better;")
print("                   repo size: lifeboat / peer, <1 = lifeboat smaller)")
print("peer\tphase\twall\tcpu\tmaxrss\trepo_size")
for p in peers:
    for ph in phases:
        a, b = rows.get(("lifeboat", ph)), rows.get((p, ph))
        if not a or not b:
            print(f"{p}\t{ph}\t-\t-\t-\t-")
            continue
        div = lambda x, y: f"{x / y:.2f}x" if y else "-"
        size = div(a["size"], b["size"]) if ph != "restore" else "-"
        print(f"{p}\t{ph}\t{div(b['wall'], a['wall'])}\t{div(b['cpu'], a['cpu'])}"
              f"\t{div(b['rss'], a['rss'])}\t{size}")

# The targets of issue 15, as lifeboat / peer (smaller is better).
def ratio(tool, phase, key):
    a, b = rows.get(("lifeboat", phase)), rows.get((tool, phase))
    return f"{a[key] / b[key]:.2f}x" if a and b and b[key] else "-"
print()
print("issue 15 targets (lifeboat / other, smaller is better)")
print(f"first snapshot time / restic's:  {ratio('restic', 'full', 'wall')}  (target <= 0.33x)")
print(f"restore time / restic's:         {ratio('restic', 'restore', 'wall')}  (target <= 0.5x)")
data_bytes, dd_seconds = int(sys.argv[2]), float(sys.argv[3])
restore = rows.get(("lifeboat", "restore"))
if restore:
    floor = data_bytes / (64 * 16 * 2**20 / dd_seconds)
    print(f"restore time / durable write of the same bytes ({floor:.2f} s): "
          f"{restore['wall'] / floor:.2f}x  (target <= 1.3x)")
print(f"repository size / tar|zstd|age:  {ratio('tza', 'full', 'size')}  (target <= 0.85x)")
EOF
