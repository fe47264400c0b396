#!/bin/bash
# Same-window A/B of the PS trainers' pipeline/cache comparison (bench/ps_algos.ts
# --pipeline-compare, loopback, np 2, 2 servers): a base checkout built in its own directory and
# this tree, alternating ROUNDS times, each run --repeat 5 with the load average beside it. The
# base gets BASE_FLAGS (e.g. --ps-cache 9: a base without per-trainer defaults), this tree its
# defaults (FTRL 9, FM 4). On a shared host compare ratios within a run and the job CPU.
#   bash bench/ps_algos_ab.sh BASE_DIR [ROUNDS] [BASE_FLAGS...]
#   e.g. bash bench/ps_algos_ab.sh /work/main 3 --ps-cache 9
set -euo pipefail
base=${1:?usage: bash bench/ps_algos_ab.sh BASE_DIR [ROUNDS] [BASE_FLAGS...]}
rounds=${2:-3}
shift $(( $# >= 2 ? 2 : 1 ))
here=$(cd "$(dirname "$0")/.." && pwd)
for r in $(seq 1 "$rounds"); do
  for v in base new; do
    echo "=== round $r: $v at $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)"
    case $v in
      base) (cd "$base" && node dist/bench/ps_algos.js --pipeline-compare --nps 2 --repeat 5 "$@" | grep -E '^median|stage ms|^load|^loopback') ;;
      new) (cd "$here" && node dist/bench/ps_algos.js --pipeline-compare --nps 2 --repeat 5 | grep -E '^median|stage ms|^load|^loopback') ;;
    esac
  done
done
