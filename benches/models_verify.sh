#!/usr/bin/env bash
# Time `lifeboat models verify` against `sha256sum` over the same model files, in one run on one
# machine, so the ratio is meaningful (absolute times drift between runs and machines).
#
#   benches/models_verify.sh DIR
#
# DIR is snapshotted into a temporary repository first (not timed). Then each tool hashes every
# model file of DIR (the files `lifeboat models list` shows) twice: cold, after dropping the
# page cache (only as root: `sync; echo 3 > /proc/sys/vm/drop_caches`), and warm, with the files
# cached (CPU-bound). `sha256sum` runs once over all files, as one process; `xargs -P NPROC
# sha256sum` (one process per file, NPROC at a time) is shown too, as the fair parallel peer.
#
# Environment:
#   LIFEBOAT   the binary (default: target/release/lifeboat of this checkout, built if missing)
#   WORK       scratch directory for the repository (default: a new temp dir, removed at exit)
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
fi
data=$(realpath "$1")
repo_root=$(cd "$(dirname "$0")/.." && pwd)
bin=${LIFEBOAT:-$repo_root/target/release/lifeboat}
if [ ! -x "$bin" ]; then
  (cd "$repo_root" && cargo build --release)
fi

if [ -n "${WORK:-}" ]; then
  work=$WORK
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
export LIFEBOAT_REPO=$work/repo LIFEBOAT_PASSWORD=models-bench
unset LIFEBOAT_PASSWORD_FILE LIFEBOAT_PASSWORD_COMMAND
rm -rf "$LIFEBOAT_REPO"

"$bin" -q init --kdf-memory 8 --kdf-iterations 1 --kdf-parallelism 1 >/dev/null
echo "== snapshot $data (not timed)"
"$bin" -q snapshot "$data" >/dev/null

mapfile -t files < <("$bin" --json models list latest | python3 -c '
import json, sys
for m in json.load(sys.stdin)["models"]:
    print(m["path"])')
if [ ${#files[@]} -eq 0 ]; then
  echo "no model files in $data" >&2
  exit 1
fi
bytes=$(stat -c %s "${files[@]}" | awk '{ s += $1 } END { printf "%d\n", s }')
ncpu=$(nproc)

can_drop=0
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
  can_drop=1
fi
drop() {
  if [ $can_drop -eq 1 ]; then
    sync
    echo 3 >/proc/sys/vm/drop_caches
  fi
}

# Seconds (with nanoseconds) a command takes; its output is discarded, a failure is fatal
# except for lifeboat's exit 3 (differences found), which would make the timing meaningless.
timed() {
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$@" >/dev/null || rc=$?
  t1=$(date +%s.%N)
  if [ $rc -ne 0 ]; then
    echo "command failed (exit $rc): $*" >&2
    exit 1
  fi
  echo "$t1 - $t0" | bc -l
}

par_sha() { printf '%s\0' "${files[@]}" | xargs -0 -n 1 -P "$ncpu" sha256sum; }

declare -A t
for mode in cold warm; do
  for tool in sha256sum xargs lifeboat; do
    if [ $mode = cold ]; then drop; else cat "${files[@]}" >/dev/null; fi
    case $tool in
      sha256sum) t[$mode.$tool]=$(timed sha256sum "${files[@]}") ;;
      xargs) t[$mode.$tool]=$(timed par_sha) ;;
      lifeboat) t[$mode.$tool]=$(timed "$bin" -q models verify latest) ;;
    esac
  done
done

mib=$(echo "$bytes / 1048576" | bc -l)
echo
echo "== ${#files[@]} model file(s), $(printf '%.0f' "$mib") MiB, $ncpu CPU(s), $(sha256sum --version | head -1)"
[ $can_drop -eq 1 ] || echo "   (not root: page cache NOT dropped, 'cold' is warm too)"
printf '%-6s %-28s %9s %10s %8s\n' cache tool seconds MiB/s ratio
for mode in cold warm; do
  base=${t[$mode.sha256sum]}
  for tool in sha256sum xargs lifeboat; do
    s=${t[$mode.$tool]}
    case $tool in
      sha256sum) name="sha256sum (1 process)" ;;
      xargs) name="xargs -P$ncpu sha256sum" ;;
      lifeboat) name="lifeboat models verify" ;;
    esac
    printf '%-6s %-28s %9.2f %10.0f %7.2fx\n' "$mode" "$name" "$s" "$(echo "$mib / $s" | bc -l)" \
      "$(echo "$base / $s" | bc -l)"
  done
done
echo "(ratio = sha256sum time / tool time; higher is faster)"

# One flipped bit in the middle of the largest model must be found (exit 3, that file
# "modified"); the bit is flipped back afterwards, whatever happens.
largest=$(ls -S "${files[@]}" | head -1)
flip() {
  python3 - "$largest" <<'PY'
import os, sys
p = sys.argv[1]
with open(p, "r+b") as f:
    f.seek(os.path.getsize(p) // 2)
    b = f.read(1)
    f.seek(-1, 1)
    f.write(bytes([b[0] ^ 0x10]))
PY
}
flip
trap 'flip; rm -rf "${WORK:-$work}"' EXIT
rc=0
t0=$(date +%s.%N)
out=$("$bin" --json models verify latest) || rc=$?
t1=$(date +%s.%N)
flip
trap 'rm -rf "$work"' EXIT
found=$(printf '%s' "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(",".join(m["path"] for m in r["report"]["models"] if m["status"] == "modified"))')
echo
echo "== one bit flipped in the middle of $largest ($(stat -c %s "$largest") bytes)"
printf 'models verify: exit %d in %.2fs, modified: %s\n' "$rc" "$(echo "$t1 - $t0" | bc -l)" "${found:-none}"
[ "$rc" -eq 3 ] && [ "$found" = "$largest" ] || { echo "the flipped bit was NOT found" >&2; exit 1; }
