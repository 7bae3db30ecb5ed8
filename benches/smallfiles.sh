#!/usr/bin/env bash
# Many small files (issue 15): what a snapshot of a tree of N small files costs in time and
# memory, first and unchanged, and what restoring it costs. Targets: an unchanged re-snapshot of
# 20,000 files under 0.5 s; peak RSS flat in the number of files (1,000,000 files under 512 MiB).
# The script only reports; the numbers go to docs/BENCHMARKS.md.
#
#   benches/smallfiles.sh
#
# Environment:
#   FILES        number of files (default 20000); 100 B to 8 KiB each, text-like, deterministic
#                content, in directories of 500 files grouped 100 directories to a parent
#   WORK         scratch directory (default /tmp/lifeboat-smallfiles); the tree is kept between
#                runs when it holds the same FILES (KEEP_DATA=0 regenerates it), the repository
#                and the restore are always fresh
#   LIFEBOAT_BIN the binary (default: target/release/lifeboat, built if missing)
#   ROUNDS       unchanged re-snapshots (default 3; the fastest is reported)
#   RESTORE      1 (default) to time `restore latest` into WORK/restore as well; 0 to skip
#   CLEAN        1 to delete WORK at the end (default 0)
#
# Phases, each timed with /usr/bin/time (wall, user, sys seconds; peak RSS of the process):
#   generate:    writing the tree (not lifeboat; for scale)
#   first:       `snapshot DIR` into a fresh repository
#   unchanged:   `snapshot DIR` again, nothing changed (its parent is the previous snapshot);
#                the page cache is warm, as after the first snapshot
#   restore:     `restore latest --target WORK/restore`
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
FILES=${FILES:-20000}
WORK=${WORK:-/tmp/lifeboat-smallfiles}
ROUNDS=${ROUNDS:-3}
RESTORE=${RESTORE:-1}
CLEAN=${CLEAN:-0}
KEEP_DATA=${KEEP_DATA:-1}
BIN=${LIFEBOAT_BIN:-$PWD/target/release/lifeboat}
[ -x "$BIN" ] || cargo build --release --quiet
[ -x /usr/bin/time ] || {
  echo "needs GNU time (/usr/bin/time): apt-get install time" >&2
  exit 2
}

DATA=$WORK/data
mkdir -p "$WORK"
export LIFEBOAT_PASSWORD=smallfiles-bench LIFEBOAT_NO_CONFIG=1
unset LIFEBOAT_PASSWORD_FILE LIFEBOAT_PASSWORD_COMMAND LIFEBOAT_REPO
KDF=(--kdf-memory 8 --kdf-iterations 1 --kdf-parallelism 1)

# One phase: runs the command under /usr/bin/time, prints "wall user sys rss_kib".
measure() {
  /usr/bin/time -f '%e %U %S %M' -o "$WORK/time.out" "$@" >"$WORK/cmd.out" || return
  cat "$WORK/time.out"
}

# The tree: FILES files, file i of size 100 + (i * 7919 mod 8093) bytes, a header line naming
# it followed by a slice of a fixed text pool (compressible like configs and sources).
cat >"$WORK/generate.py" <<'EOF'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(15)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10)))
         for _ in range(2000)]
pool = []
while sum(map(len, pool)) < 96 * 1024:
    pool.append(" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) + "\n")
pool = "".join(pool).encode()
per_dir, dirs_per_parent = 500, 100
for i in range(n):
    d = i // per_dir
    if i % per_dir == 0:
        path = os.path.join(root, f"p{d // dirs_per_parent:04d}", f"d{d % dirs_per_parent:03d}")
        os.makedirs(path)
    size = 100 + (i * 7919) % 8093
    head = f"file {i}\n".encode()
    start = (i * 104729) % (len(pool) - 8192)
    with open(os.path.join(path, f"f{i:07d}.txt"), "wb") as f:
        f.write((head + pool[start:start + size])[:size])
EOF
generate() {
  rm -rf "$DATA" "$WORK/data.files"
  measure python3 "$WORK/generate.py" "$DATA" "$FILES"
  echo "$FILES" >"$WORK/data.files"
}

if [ "$KEEP_DATA" = 1 ] && [ -d "$DATA" ] && [ "$(cat "$WORK/data.files" 2>/dev/null)" = "$FILES" ]; then
  gen="(kept)"
else
  gen=$(generate)
fi

rm -rf "$WORK/repo" "$WORK/restore"
"$BIN" --repo "$WORK/repo" init "${KDF[@]}" >/dev/null
first=$(measure "$BIN" --repo "$WORK/repo" snapshot "$DATA")
unchanged=() best=""
for _ in $(seq "$ROUNDS"); do
  r=$(measure "$BIN" --repo "$WORK/repo" --json snapshot "$DATA")
  read_files=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["files"] - s["files_unmodified"])' "$WORK/cmd.out")
  unchanged+=("$r")
  if [ -z "$best" ] || python3 -c "import sys; sys.exit(not ${r%% *} < ${best%% *})"; then
    best=$r
  fi
done
restore="skipped"
if [ "$RESTORE" = 1 ]; then
  restore=$(measure "$BIN" --repo "$WORK/repo" restore latest --target "$WORK/restore")
fi

row() { # NAME "wall user sys rss"
  if [ "${2:0:1}" = "(" ] || [ "$2" = skipped ]; then
    echo "| $1 | $2 | | | |"
    return
  fi
  read -r w u s m <<<"$2"
  echo "| $1 | $w | $u | $s | $((m / 1024)) |"
}
data_bytes=$(du -sb "$DATA" | cut -f1)
repo_bytes=$(du -sb "$WORK/repo" | cut -f1)
echo "tree: $DATA, $FILES files, $((data_bytes >> 20)) MiB (du); repository $((repo_bytes >> 20)) MiB"
echo "binary: $BIN ($("$BIN" --version)); $(nproc) CPUs"
echo "unchanged re-snapshot: best of $ROUNDS (all walls: $(printf '%s ' "${unchanged[@]%% *}")s), files read in the last: $read_files"
echo
echo "| phase | wall s | user s | sys s | peak RSS MiB |"
echo "|---|---|---|---|---|"
row generate "$gen"
row "first snapshot" "$first"
row "unchanged re-snapshot" "$best"
row "restore" "$restore"
# The peak over all unchanged rounds (the best round's is in the table).
max_rss=0
for r in "${unchanged[@]}"; do
  m=${r##* }
  [ "$m" -gt "$max_rss" ] && max_rss=$m
done
echo
echo "peak RSS over the unchanged rounds: $((max_rss / 1024)) MiB"
if [ "$CLEAN" = 1 ]; then rm -rf "$WORK"; fi
