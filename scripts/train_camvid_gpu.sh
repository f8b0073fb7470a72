#!/usr/bin/env bash
# SegNet-Basic at the paper's 360x480 on one GPU, for a fixed wall-clock budget: two runs of one
# recipe side by side, so the shipped model and its held-out proof cost the same lease.
#   held: train+val minus sequence $HOLDOUT (0006R0), scored on it (the sequence-held-out protocol)
#   ship: train+val, every labelled frame (its val figures are on trained-on frames)
# The epoch count is fixed before training from a measured training-step rate, so both runs end
# their cosine schedule inside the budget; the exact `segnet train` commands are printed.
#
#   OUT=runs/gpu BUDGET=420 scripts/train_camvid_gpu.sh .gpu_data/camvid   # packed data, see camvid_transfer.py
# Continuing two earlier runs with a fresh schedule (the weights of each go on in its own run):
#   INIT_HELD=runs/init/held.pt INIT_SHIP=src/segnet/weights/camvid_segnet_basic.pt LR=0.03 WARMUP=2 ...
set -u
PACKED=${1:?usage: train_camvid_gpu.sh PACKED_CAMVID_DIR}
OUT=${OUT:-runs/gpu}
BUDGET=${BUDGET:-420}          # seconds of training for the two runs together
DEVICE=${DEVICE:-cuda}
PY=${PYTHON:-python3}
BATCH=${BATCH:-12}
LR=${LR:-0.05}
SAFETY=${SAFETY:-0.7}          # share of the probe's rate counted on (data loading, validation, plots)
MAX_EPOCHS=${MAX_EPOCHS:-400}
EXTRA=${EXTRA:-}                # more train options, e.g. "--max-steps 3" for a smoke run
FEED=${FEED:-device}            # device: --augment-on-device (frames decoded once into GPU memory); loader: workers
INIT_HELD=${INIT_HELD:-}        # --init-weights of the held-out run (empty: random initialisation)
INIT_SHIP=${INIT_SHIP:-}        # --init-weights of the shipped run
WARMUP=${WARMUP:-}              # warm-up epochs (default: 2% of the epochs)
VALS=${VALS:-10}                # validations in the run
HOLDOUT=${HOLDOUT:-0006R0}      # the held run's unseen drive (0001TP checks that a ranking holds on another)
SEED=${SEED:-1}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 SEGNET_CACHE=/tmp/segnet-cache
mkdir -p "$OUT"
LOG="$OUT/driver.log"
exec > >(tee -a "$LOG") 2>&1
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }

$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
DATA=/tmp/camvid
$PY scripts/camvid_transfer.py unpack "$PACKED" "$DATA" || exit 2
echo "[$(elapsed)s] data ready"

# Training-step rate of one process at the recipe's settings (random data: the GPU's share only).
RATE=$($PY - "$DEVICE" "$BATCH" <<'PY'
import sys, time, torch
from segnet.models import create_model
from segnet.engine.loss import summed_cross_entropy
device, batch = torch.device(sys.argv[1]), int(sys.argv[2])
torch.backends.cudnn.benchmark = True
model = create_model("segnet_basic", 11).to(device, memory_format=torch.channels_last)
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
x = torch.randn(batch, 3, 360, 480, device=device).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 12, (batch, 360, 480), device=device)
def step():
    opt.zero_grad(set_to_none=True)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
        logits = model(x)
    summed_cross_entropy(logits, y, None, 11).backward()
    opt.step()
for _ in range(5): step()
if device.type == "cuda": torch.cuda.synchronize()
count = 20 if device.type == "cuda" else 2
t = time.perf_counter()
for _ in range(count): step()
if device.type == "cuda": torch.cuda.synchronize()
print(f"{count * batch / (time.perf_counter() - t):.1f}")
PY
) || { echo "probe failed"; exit 3; }
echo "[$(elapsed)s] probe: $RATE training images/s in one process (batch $BATCH, 360x480, bf16)"
# held trains on 367 frames an epoch, ship on 468: 835 frames per epoch of both.
EPOCHS=$($PY -c "print(max(1, min($MAX_EPOCHS, int($SAFETY * $BUDGET * $RATE / 835))))")
WARMUP=${WARMUP:-$($PY -c "print(max(1, round($EPOCHS / 50)))")}
VAL_EVERY=$($PY -c "print(max(1, $EPOCHS // $VALS))")
echo "[$(elapsed)s] epochs $EPOCHS, warm-up $WARMUP, validation every $VAL_EVERY"

COMMON="--model segnet_basic --dataset camvid --data-root $DATA --train-split train+val --size 360x480 \
 --color-jitter 0.25 --schedule cosine --warmup-epochs $WARMUP --lr $LR --batch-size $BATCH --epochs $EPOCHS \
 --amp bf16 --channels-last --device $DEVICE --seed $SEED --val-every $VAL_EVERY --checkpoint-minutes 0.5 --no-progress $EXTRA"
[ "$FEED" = device ] && COMMON="$COMMON --augment-on-device"
HELD="$COMMON --holdout $HOLDOUT --workers 7 --run-dir /tmp/runs/held${INIT_HELD:+ --init-weights $INIT_HELD}"
SHIP="$COMMON --val-split val --workers 8 --run-dir /tmp/runs/ship${INIT_SHIP:+ --init-weights $INIT_SHIP}"
echo "segnet train $HELD"
echo "segnet train $SHIP"
LIMIT=$(( BUDGET * 115 / 100 ))   # a run still going then is stopped; its last checkpoint comes back
timeout $LIMIT $PY -m segnet train $HELD > /tmp/held.log 2>&1 &
held=$!
timeout $LIMIT $PY -m segnet train $SHIP > /tmp/ship.log 2>&1 &
ship=$!

collect() {
  for run in held ship; do
    cp -f /tmp/$run.log "$OUT/$run.log" 2>/dev/null
    cp -f /tmp/runs/$run/metrics.csv "$OUT/${run}_metrics.csv" 2>/dev/null
    for file in last ema; do  # ema.pt: with EXTRA="--ema-decay D", the weight average
      [ -f /tmp/runs/$run/$file.pt ] && cp -f /tmp/runs/$run/$file.pt "$OUT/.${run}_$file.pt.tmp" \
        && mv -f "$OUT/.${run}_$file.pt.tmp" "$OUT/${run}_$file.pt"
    done
  done
}
while kill -0 $held 2>/dev/null || kill -0 $ship 2>/dev/null; do
  sleep 20; collect
  echo "[$(elapsed)s] held: $(tail -c 300 /tmp/held.log | tr '\r' '\n' | grep -v '^$' | tail -1 | cut -c1-120)"
done
wait $held; held_rc=$?
wait $ship; ship_rc=$?
collect
echo "[$(elapsed)s] done: held exit $held_rc, ship exit $ship_rc"
tail -n 5 /tmp/held.log /tmp/ship.log

# Time left before END_BY: AFTER=benchmark runs the paper's computational table on this device,
# AFTER=feed the loader against the device feed (benchmarks/train_feed.py), into the driver log.
END_BY=${END_BY:-545}
AFTER=${AFTER:-benchmark}
left=$(( END_BY - $(elapsed) ))
if [ "$DEVICE" = cuda ] && [ $left -gt 40 ]; then
  echo "[$(elapsed)s] $AFTER for up to ${left}s"
  if [ "$AFTER" = feed ]; then
    timeout $left $PY benchmarks/train_feed.py --data-root "$DATA" --device cuda --workers 15 --batches 60 --steps 30
  elif [ "$AFTER" = benchmark ]; then
    timeout $left $PY -m segnet benchmark --device cuda --repeats 10 --warmup 3 --no-progress --output /tmp/bench \
      && cat /tmp/bench/benchmark.md
  fi
fi
echo "[$(elapsed)s] end"
