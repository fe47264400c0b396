#!/bin/bash
# Same-window A/B of the parameter-server benchmark (bench/ps.ts): a base checkout built in
# its own directory, this tree as is (synchronous acknowledgement, the default), and this tree
# with pushes acknowledged by their primary (SHOAL_PS_ACK_ON_PRIMARY=1), run one after the other ROUNDS times, each with the load average
# beside it. On a shared host wall-clock keys/s swings 2-3x; compare the CPU ns/key column.
#   bash bench/ps_ab.sh BASE_DIR [ROUNDS] [extra bench:ps flags, e.g. --keys 1e4 --iters 200]
#   e.g. git worktree add --detach /tmp/ps-base main && (cd /tmp/ps-base && npm ci && npm run build)
#        bash bench/ps_ab.sh /tmp/ps-base 3
set -euo pipefail
base=${1:?usage: bash bench/ps_ab.sh BASE_DIR [ROUNDS] [flags]}
rounds=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")/.." && pwd)
# Extra flags go first: bench/ps.ts takes the first occurrence of a flag, so they override the defaults.
flags=("$@" --workers 2 --servers 2 --keys 1e6 --dim 1,16 --load-keys 0)
for r in $(seq 1 "$rounds"); do
  for v in base default early; do
    echo "=== round $r: $v at $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)"
    case $v in
      base) (cd "$base" && node dist/bench/ps.js "${flags[@]}" | tail -4) ;;
      default) (cd "$here" && node dist/bench/ps.js "${flags[@]}" | tail -4) ;;
      early) (cd "$here" && SHOAL_PS_ACK_ON_PRIMARY=1 node dist/bench/ps.js "${flags[@]}" | tail -4) ;;
    esac
  done
done
