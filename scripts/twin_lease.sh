#!/usr/bin/env bash
# Keep twin_chain_gpu.sh training across the calls of one lease, with no gap between them.
#
# One `run` call may last 600 s, while the chain needs more. Stopping it at the end of a call and
# resuming it in the next costs a restart per stage and leaves the GPU idle between calls, so
# `start` launches the chain in its own process session (it outlives the call on a warm machine)
# and waits; `collect`, the next call on the same machine, waits again, then stops the chain
# cleanly (SIGTERM: the cut stage saves its last.pt at the step reached). Both end by packing
# what is done into $OUT: the finished stages' float16 copies, the logs and metrics, and the last.pt
# of a stage still running, as one tar split into 15 MB pieces (a call returns at most 8 files
# of 16 MB). Here: `cat chain.tar.* | tar x`.
# WAIT_S is the call's whole length: `collect` stops the chain 50 s before it, to leave time for the
# stop and the packing. Give it the lease's time left less the transfer (about 20 s), and the
# run's timeout_s a little more than WAIT_S.
#   scripts/twin_lease.sh start WAIT_S .gpu_data/camvid      # first call (carry .gpu_data)
#   scripts/twin_lease.sh collect WAIT_S                     # next call, within the warm window
set -u
. "$(dirname "$0")/lease_pack.sh"
mode=${1:?usage: twin_lease.sh start WAIT_S PACKED | collect WAIT_S}
wait_s=${2:?WAIT_S: seconds this call waits for the chain}
OUT=${OUT:-runs/lease_out}
CHAIN_OUT=${CHAIN_OUT:-/tmp/chain_out}
RUNS=${RUNS:-$(chain_runs "${HOLDOUT:-}")}   # HOLDOUT=0001TP: that twin's chain (twin_chain_gpu.sh)
started=$(date +%s)
mkdir -p "$OUT" "$CHAIN_OUT"

chain_running() { pgrep -f /tmp/twin_chain_gpu.sh > /dev/null; }

if [ "$mode" = start ]; then
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
  # A copy: the next call re-sends the working tree, which must not rewrite a script bash is reading.
  cp scripts/twin_chain_gpu.sh /tmp/twin_chain_gpu.sh
  OUT=$CHAIN_OUT RUNS=$RUNS LIMIT=${LIMIT:-3000} \
    setsid nohup bash /tmp/twin_chain_gpu.sh "${3:?PACKED}" > /tmp/chain_nohup.log 2>&1 < /dev/null &
  sleep 2
fi

margin=10
[ "$mode" = collect ] && margin=50
while [ $(( $(date +%s) - started )) -lt $(( wait_s - margin )) ] && chain_running; do sleep 5; done

if [ "$mode" = collect ] && chain_running; then
  # Only the trainer itself (the child of `timeout`), not its loader workers: it stops them.
  for pid in $(pgrep -f "segnet train"); do
    [ "$(ps -o comm= -p "$(ps -o ppid= -p "$pid" | tr -d ' ')")" = timeout ] && kill -TERM "$pid"
  done
  for _ in $(seq 35); do chain_running || break; sleep 1; done
fi

pack=/tmp/lease_pack
rm -rf "$pack" && mkdir -p "$pack"
cp -f "$CHAIN_OUT"/* "$pack"/ 2>/dev/null
cp -f /tmp/chain_nohup.log "$pack"/ 2>/dev/null
pack_lease "$pack"
echo "---- packed after $(( $(date +%s) - started )) s:"; ls -la "$pack"
echo "---- chain.log:"; tail -n 40 "$CHAIN_OUT/chain.log" 2>/dev/null
