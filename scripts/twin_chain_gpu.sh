#!/usr/bin/env bash
# Rebuild the shipped model's held-out twin on one GPU, stage by stage, and run the next arms.
#
# The twin (train+val minus drive 0006R0) is the only honest judge of a change to the shipped
# recipe, and its weights live outside the repository: when they are lost, no continuation of the
# shipped model can be judged until the twin's whole history is run again. This script runs that
# history (the recipe study's arms G, H, I and M, the same commands as the model card's with
# `--holdout 0006R0`), then the arms that continue it:
#   P_held  I + a 12-epoch cycle with the Lovász term at weight 3 (M's rival; session 11's arm P)
#   R_held  M + the same weight-3 cycle            R_ship  the shipped weights + the same cycle
#   R7_held R_held with seed 7 (how far two runs of one recipe differ)
#   T_held  M + the cycle at weight 5
#   U_held  R_held without median-frequency class weights (the Lovász term balances the classes)
#   R7_ship R_ship with seed 7                       R8_held, R8_ship  the same with seed 8
#   S_held  the soup of R_held and R7_held (their weights averaged)   S_ship  the soup of R_ship and R7_ship
#   S3_held the soup of R_held, R7_held and R8_held                   S3_ship the soup of the three ship seeds
#   C_held  S3_held + a 30-epoch weight-3 cycle, seed 9                C_ship  S3_ship + the same (session 22)
#   R9_held, R9_ship  seed 9 of R_held and R_ship   S4_held, S4_ship  the four seeds' soups (S3 at 3/4 + R9 at 1/4)
# (session 17 ran every arm up to U_held; session 18 measured that a run's soup with its own parent
# (M + R_held) adds nothing, so seeds were the lever; session 22 ran the seeds and soups and found the
# three-seed soup best, a fourth seed and a further cycle from the soup both lower). The chain scores
# the held-out arms on the GPU (score:<name> in STAGES): refresh-bn at the five TTA sizes,
# then evaluate on 0006R0 (or HOLDOUT, below) in float32, one pass and multiscale (<name>_score_none.json,
# <name>_score_multiscale.json, and the refreshed weights as <name>_bn.pt, ready for
# `segnet quantize` and the int8 figures). The arms that decide what ships are scored first, and
# a shipped-model candidate's statistics are refreshed on every frame (refresh:S_ship -> S_ship_bn.pt).
# Every stage's weights come back in $OUT as float16 without training state (<name>.pt, 2.9 MB),
# to be committed under research/twin/ so that a later session can go on from them.
#
# One `run` call may last 600 s at most, so the script stops itself at LIMIT seconds and is run
# again on the same warm machine: a finished stage (runs/chain/<name>/done) is skipped, a stopped
# one resumes from its last.pt (saved at the stopping step, on SIGTERM), a new one starts.
#   python scripts/camvid_transfer.py pack ../shared/camvid .gpu_data/camvid      # here, once
#   OUT=$OUT LIMIT=540 scripts/twin_chain_gpu.sh .gpu_data/camvid                # there, until "all done"
# A later lease (a fresh machine) skips every stage whose copy is in $KEPT and starts from it.
# SMOKE=1 DEVICE=cpu AMP=none SIZE=64x80 runs every stage for 2 steps (checks the plumbing on a CPU).
#
# HOLDOUT=0001TP builds a second twin that holds another drive out instead (the held-out stages
# only, scored on that drive; its copies in research/twin_0001TP, its stage folders in
# runs/chain_0001TP): a check that what 0006R0 chose holds on another drive, and the only way to
# see Bicyclist generalise (0001TP holds 56k of its pixels, 0006R0 12k). Its default stages are the
# twin's history to M, then the three seeds and their soup, M and the soup scored: about 25 GPU
# minutes for G to M, so two leases: the second skips the first's finished stages (their copies
# committed in $KEPT) and resumes the one it cut short from its <stage>_last.pt, put in $RESUME
# (.gpu_data/resume, carried with the data).
set -u
. scripts/lease_pack.sh              # run from the repository root, as the lease scripts do (they copy this file)
PACKED=${1:?usage: twin_chain_gpu.sh PACKED_CAMVID_DIR}
DRIVE=${HOLDOUT:-0006R0}             # the drive the twin never trains on, and is scored on
OUT=${OUT:-runs/chain_out}
RUNS=${RUNS:-$(chain_runs "$DRIVE")} # stage folders: kept between calls on a warm machine
LIMIT=${LIMIT:-540}                  # seconds this call may run before it stops itself
DEVICE=${DEVICE:-cuda}
RESUME=${RESUME:-.gpu_data/resume}   # <stage>_last.pt of stages an earlier lease cut short (carried with .gpu_data)
if [ "$DRIVE" = 0006R0 ]; then
  # Session 22's lease ran every stage named above and kept the three-seed soups (S3_held_bn.pt,
  # S3_ship_bn.pt; v9 is S3_ship shifted and calibrated), so the default is the kept line: it skips
  # everything. Name the next arms in STAGES; a stage that starts from a soup uses its kept copy.
  STAGES=${STAGES:-G H1 H2 I M S3_held S3_ship}
  KEPT=${KEPT:-research/twin}        # float16 copies of stages finished in earlier leases (committed)
else
  STAGES=${STAGES:-G H1 H2 I M score:M R_held R7_held R8_held S3_held score:S3_held}
  KEPT=${KEPT:-research/twin_$DRIVE}
fi
SHIPPED=${SHIPPED:-src/segnet/weights/camvid_segnet_basic.pt}
PY=${PYTHON:-python3}
DATA=${DATA:-/tmp/camvid}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 SEGNET_CACHE=/tmp/segnet-cache
mkdir -p "$OUT" "$RUNS"
exec > >(tee -a "$OUT/chain.log") 2>&1
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }

$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
[ -d "$DATA/train" ] || $PY scripts/camvid_transfer.py unpack "$PACKED" "$DATA" || exit 2

# The recipe every stage shares (the model card's), then per stage: start, epochs, lr, warm-up, seed.
SIZE=${SIZE:-360x480}
AMP=${AMP:-bf16}
COMMON="--model segnet_basic --dataset camvid --data-root $DATA --train-split train+val --size $SIZE \
 --color-jitter 0.25 --schedule cosine --batch-size 12 --amp $AMP --channels-last --device $DEVICE \
 --checkpoint-minutes 0.5 --no-progress"
WORKERS=1; [ "$DEVICE" = cuda ] && WORKERS=8 && COMMON="$COMMON --augment-on-device"
COMMON="$COMMON --workers $WORKERS"
SCORE_LIMIT=""
[ "${SMOKE:-0}" = 1 ] && COMMON="$COMMON --max-steps 2" && SCORE_LIMIT="--limit 2"
HELD="--holdout $DRIVE"
SHIP="--val-split none"

half_weights() {  # last.pt -> $OUT/<name>.pt: float16 tensors, no optimiser/RNG state
  $PY - "$1" "$2" <<'PY'
import sys, torch
from segnet.checkpoint import atomic_save, without_training_state
data = without_training_state(torch.load(sys.argv[1], map_location="cpu", weights_only=False))
data["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in data["state_dict"].items()}
atomic_save(data, sys.argv[2])
PY
}

weights_of() {  # a finished stage's weights: this machine's last.pt, else the kept float16 copy
  # (<name>.pt as trained, or <name>_bn.pt: the same learned weights with refreshed BatchNorm statistics)
  if [ -f "$RUNS/$1/done" ]; then echo "$RUNS/$1/last.pt"
  elif [ -f "$KEPT/$1.pt" ] || [ ! -f "$KEPT/${1}_bn.pt" ]; then echo "$KEPT/$1.pt"
  else echo "$KEPT/${1}_bn.pt"; fi
}

# The twin's own line: a kept stage makes the stages before it unneeded (only the last is committed).
NEXT_G=H1 NEXT_H1=H2 NEXT_H2=I NEXT_I=M
kept_or_built_on() {
  local name=$1
  while [ -n "$name" ]; do
    [ -f "$KEPT/$name.pt" ] || [ -f "$KEPT/${name}_bn.pt" ] && return 0
    eval "name=\${NEXT_$name:-}"
  done
  return 1
}

stage() {  # name  init(or -)  epochs  lr  warmup  seed  split-options  [more options]
  local name=$1 init=$2 epochs=$3 lr=$4 warmup=$5 seed=$6 split=$7; shift 7
  local dir=$RUNS/$name left
  if [ -f "$dir/done" ]; then echo "[$(elapsed)s] $name: done in an earlier call"; return 0; fi
  if kept_or_built_on "$name"; then echo "[$(elapsed)s] $name: kept from an earlier lease, or a stage built on it is"; return 0; fi
  left=$(( LIMIT - $(elapsed) ))
  if [ $left -lt 30 ]; then echo "[$(elapsed)s] $name: no time left in this call"; return 1; fi
  local args
  if [ ! -f "$dir/last.pt" ] && [ -f "$RESUME/${name}_last.pt" ]; then
    # A stage cut short in an earlier lease: its last.pt came back (`--resume` reads the config in it).
    mkdir -p "$dir" && cp "$RESUME/${name}_last.pt" "$dir/last.pt" || return 1
    echo "[$(elapsed)s] $name: resuming the earlier lease's $RESUME/${name}_last.pt"
  fi
  if [ -f "$dir/last.pt" ]; then
    args="--run-dir $dir --resume --no-progress"
  else
    [ "$init" = - ] || [ -f "$init" ] || { echo "[$(elapsed)s] $name: its start $init is missing"; return 1; }
    args="$COMMON $split --epochs $epochs --lr $lr --warmup-epochs $warmup --seed $seed --val-every $epochs \
      --run-dir $dir $*"
    [ "$init" = - ] || args="$args --init-weights $init"
  fi
  echo "[$(elapsed)s] segnet train $args"
  timeout --signal=TERM --kill-after=30 $left $PY -m segnet train $args > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 3 "$OUT/$name.log"
  cp -f "$dir/metrics.csv" "$OUT/${name}_metrics.csv" 2>/dev/null
  if [ $rc -ne 0 ]; then echo "[$(elapsed)s] $name: stopped (exit $rc); the next call resumes it"; return 1; fi
  half_weights "$dir/last.pt" "$OUT/$name.pt" && touch "$dir/done"
  echo "[$(elapsed)s] $name: finished, $OUT/$name.pt"
}

as_trained() {  # a checkpoint without its class prior shift (v8 = v7 + shift-prior): training continues v7
  # v9 is a soup of such runs, so the ship seeds need v8's file in SHIPPED once v9 ships
  if $PY -c "import sys, torch; sys.exit('soup_of' not in torch.load(sys.argv[1], map_location='cpu', weights_only=False))" "$1"; then
    echo "[$(elapsed)s] $1 is a soup, and the ship seeds continue v7: SHIPPED=v8.pt" \
      "(git show f95810e:src/segnet/weights/camvid_segnet_basic.pt > v8.pt)" >&2
    echo "$1 (a soup, not v7)"; return 0
  fi
  local out=$RUNS/init/as_trained_$(basename "$1")
  [ -f "$out" ] || { mkdir -p "$RUNS/init"
    $PY -m segnet shift-prior --weights "$1" --undo --output "$out" >&2 || { echo "$1"; return 0; }; }
  echo "$out"
}

run_stage() {
  if [ "$DRIVE" != 0006R0 ]; then case $1 in
    *_ship|refresh:*) echo "$1 is a ship-line stage: run it in the chain without HOLDOUT (the ship line holds nothing out)"
                      return 2 ;;
  esac; fi
  case $1 in
    G)      stage G - 168 0.05 3 1 "$HELD" ;;
    H1)     stage H1 "$(weights_of G)" 115 0.03 2 1 "$HELD" ;;
    H2)     stage H2 "$(weights_of H1)" 83 0.02 2 1 "$HELD" ;;
    I)      stage I "$(weights_of H2)" 20 0.01 1 3 "$HELD" ;;
    M)      stage M "$(weights_of I)" 12 0.01 1 6 "$HELD" --lovasz-weight 1 ;;
    P_held) stage P_held "$(weights_of I)" 12 0.01 1 6 "$HELD" --lovasz-weight 3 ;;
    R_held) stage R_held "$(weights_of M)" 12 0.01 1 6 "$HELD" --lovasz-weight 3 ;;
    R_ship) stage R_ship "$(as_trained "$SHIPPED")" 12 0.01 1 6 "$SHIP" --lovasz-weight 3 ;;
    R7_held) stage R7_held "$(weights_of M)" 12 0.01 1 7 "$HELD" --lovasz-weight 3 ;;
    T_held) stage T_held "$(weights_of M)" 12 0.01 1 6 "$HELD" --lovasz-weight 5 ;;
    U_held) stage U_held "$(weights_of M)" 12 0.01 1 6 "$HELD" --lovasz-weight 3 --class-weights none ;;
    R7_ship) stage R7_ship "$(as_trained "$SHIPPED")" 12 0.01 1 7 "$SHIP" --lovasz-weight 3 ;;
    R8_held) stage R8_held "$(weights_of M)" 12 0.01 1 8 "$HELD" --lovasz-weight 3 ;;
    R8_ship) stage R8_ship "$(as_trained "$SHIPPED")" 12 0.01 1 8 "$SHIP" --lovasz-weight 3 ;;
    C_held) stage C_held "$(weights_of S3_held)" 30 0.01 1 9 "$HELD" --lovasz-weight 3 ;;
    C_ship) stage C_ship "$(weights_of S3_ship)" 30 0.01 1 9 "$SHIP" --lovasz-weight 3 ;;
    R9_held) stage R9_held "$(weights_of M)" 12 0.01 1 9 "$HELD" --lovasz-weight 3 ;;
    R9_ship) stage R9_ship "$(as_trained "$SHIPPED")" 12 0.01 1 9 "$SHIP" --lovasz-weight 3 ;;
    S4_held) SHARES=3,1 soup S4_held S3_held R9_held ;;   # = seeds 6, 7, 8 and 9 in equal shares
    S4_ship) SHARES=3,1 soup S4_ship S3_ship R9_ship ;;
    S_held) soup S_held R_held R7_held ;;
    S_ship) soup S_ship R_ship R7_ship ;;
    S3_held) soup S3_held R_held R7_held R8_held ;;
    S3_ship) soup S3_ship R_ship R7_ship R8_ship ;;
    score:*|refresh:*) finish "${1%%:*}" "${1#*:}" ;;
    *) echo "unknown stage $1"; return 2 ;;
  esac
}

soup() {  # name part...: the runs' weights averaged in equal shares (a uniform soup of seeds), `segnet soup`;
  # SHARES=3,1 weighs the parts instead (a three-seed soup and a fourth seed: the four in equal shares)
  local name=$1 dir=$RUNS/$1 part weights=()
  shift
  if [ -f "$dir/done" ] || [ -f "$KEPT/$name.pt" ] || [ -f "$KEPT/${name}_bn.pt" ]; then
    echo "[$(elapsed)s] $name: done"; return 0; fi
  for part in "$@"; do
    weights+=("$(weights_of "$part")")
    [ -f "${weights[-1]}" ] || { echo "[$(elapsed)s] $name: needs ${weights[-1]}"; return 1; }
  done
  mkdir -p "$dir"
  $PY -m segnet soup "${weights[@]}" ${SHARES:+--weights $SHARES} --output "$dir/last.pt" || return 1
  half_weights "$dir/last.pt" "$OUT/$name.pt" && touch "$dir/done"
  echo "[$(elapsed)s] $name: soup of $*, $OUT/$name.pt"
}

finish() {  # kind name: refresh-bn on the GPU at the multiscale TTA's five sizes (0.5-1.5; four until
  # session 22, whose twin scored +0.1 mIoU with the fifth); kind "score" (a held-out arm) then
  # evaluates on the held-out drive in float32, one pass and multiscale; kind "refresh" (a shipped-data run,
  # nothing held out) refreshes on all of train+val only. The refreshed weights come back as <name>_bn.pt.
  local kind=$1 name=$2 dir=$RUNS/$1_$2 weights left holdout="" kept=$KEPT/${2}_bn.pt
  if [ "$kind" = score ]; then holdout="--holdout $DRIVE" kept=$KEPT/${name}_score_multiscale.json; fi
  if [ -f "$dir/done" ] || [ -f "$kept" ]; then echo "[$(elapsed)s] $kind $name: done"; return 0; fi
  weights=$(weights_of "$name")
  [ -f "$weights" ] || { echo "[$(elapsed)s] $kind $name: no weights ($weights)"; return 1; }
  left=$(( LIMIT - $(elapsed) ))
  if [ $left -lt 30 ]; then echo "[$(elapsed)s] $kind $name: no time left in this call"; return 1; fi
  mkdir -p "$dir"
  echo "[$(elapsed)s] $kind $name: refresh-bn${holdout:+, then evaluate on $DRIVE}"
  ( timeout --kill-after=10 $left $PY -m segnet refresh-bn --weights "$weights" --output "$dir/bn.pt" \
      --data-root "$DATA" --split train+val $holdout --scales 0.5,0.75,1,1.25,1.5 --device "$DEVICE" \
      --workers $WORKERS || exit 1
    [ "$kind" = score ] || exit 0
    for tta in none multiscale; do
      timeout --kill-after=10 $(( LIMIT - $(elapsed) )) $PY -m segnet evaluate --weights "$dir/bn.pt" \
        --data-root "$DATA" --split train+val --sequences "$DRIVE" --precision fp32 --tta $tta \
        --device "$DEVICE" --workers $WORKERS --no-progress --output "$dir/$tta" $SCORE_LIMIT || exit 1
      cp -f "$dir/$tta/metrics.json" "$OUT/${name}_score_$tta.json"
    done ) > "$OUT/${kind}_$name.log" 2>&1 || { echo "[$(elapsed)s] $kind $name: stopped"; return 1; }
  grep -h "mIoU" "$OUT/${kind}_$name.log" | tail -n 2
  half_weights "$dir/bn.pt" "$OUT/${name}_bn.pt" && touch "$dir/done"
  echo "[$(elapsed)s] $kind $name: $OUT/${name}_bn.pt"
}

for name in $STAGES; do
  run_stage "$name"
  case $? in
    0) ;;
    2) echo "[$(elapsed)s] stopping at $name: fix STAGES"; exit 2 ;;
    *) echo "[$(elapsed)s] stopping this call at $name; run the script again"; exit 75 ;;
  esac
done
echo "[$(elapsed)s] all done"
