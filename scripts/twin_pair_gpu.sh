#!/usr/bin/env bash
# Run two twin_chain_gpu.sh chains side by side on one GPU: the held-out twin's stages and the ship
# line's, in one `run` call, packed into $OUT as one tar (scripts/lease_pack.sh, as twin_lease.sh packs).
#
# SegNet-Basic at batch 12 leaves an H100 half idle: session 22 ran C_held and C_ship (30 epochs
# each, 2070 steps in all) side by side in 142 s, 14.6 steps/s, against 9.4 steps/s for one run alone.
#   bash scripts/twin_pair_gpu.sh LIMIT "HELD_STAGES" "SHIP_STAGES"    # carry: [".gpu_data"]
#   e.g. bash scripts/twin_pair_gpu.sh 185 "R9_held S4_held score:S4_held" "R9_ship S4_ship refresh:S4_ship"
#   HOLDOUT=0001TP ...: the held-out chain is the second drive's twin (twin_chain_gpu.sh), the ship chain as before
# Here: cat chain.tar.* | tar x   (h/ and s/: each chain's $OUT; <stage>_last.pt for a stage cut short)
set -u
. "$(dirname "$0")/lease_pack.sh"
limit=${1:?usage: twin_pair_gpu.sh LIMIT HELD_STAGES SHIP_STAGES}
OUT=${OUT:-runs/pair_out}
PACKED=${PACKED:-.gpu_data/camvid}
mkdir -p "$OUT"
cp scripts/twin_chain_gpu.sh /tmp/twin_chain_pair.sh   # the next call re-sends the tree
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
# Unpack once here: two chains unpacking into one folder at once would race.
python3 scripts/camvid_transfer.py unpack "$PACKED" /tmp/camvid > /dev/null || exit 2
# HOLDOUT (e.g. 0001TP) goes to the held-out chain only: the ship line holds nothing out.
(OUT=/tmp/pair/h STAGES="${2:?HELD_STAGES}" LIMIT=$limit bash /tmp/twin_chain_pair.sh "$PACKED" > /dev/null 2>&1) &
HOLDOUT= OUT=/tmp/pair/s STAGES="${3:?SHIP_STAGES}" LIMIT=$limit bash /tmp/twin_chain_pair.sh "$PACKED" > /dev/null 2>&1
wait
pack_lease /tmp/pair "$(chain_runs "${HOLDOUT:-}")" "$(chain_runs)"
tail -n 30 /tmp/pair/h/chain.log /tmp/pair/s/chain.log
