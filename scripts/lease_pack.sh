# Sourced by twin_chain_gpu.sh, twin_lease.sh and twin_pair_gpu.sh: where a chain keeps its stages,
# and what a lease call sends back.

# chain_runs [DRIVE]: the stage folders of the twin that holds DRIVE out (default 0006R0, the first
# twin's: runs/chain; another drive's twin: runs/chain_<DRIVE>, so that both can share a machine).
chain_runs() {
  if [ "${1:-0006R0}" = 0006R0 ]; then echo runs/chain; else echo "runs/chain_$1"; fi
}

# pack_lease DIR [RUNS_DIR...]: adds the last.pt of every stage under the RUNS_DIRs (default $RUNS)
# that did not finish (<stage>_last.pt, so the next lease resumes it), then writes DIR as one tar
# split into 15 MB pieces, $OUT/chain.tar.* (a call returns at most 8 files of 16 MB).
# Here: `cat chain.tar.* | tar x`.
pack_lease() {
  local pack=$1 runs dir
  shift
  for runs in "${@:-$RUNS}"; do
    for dir in "$runs"/*/; do
      [ -f "$dir/done" ] || [ ! -f "$dir/last.pt" ] || cp -f "$dir/last.pt" "$pack/$(basename "$dir")_last.pt"
    done
  done
  rm -f "$OUT"/chain.tar.*
  tar cf - -C "$pack" . | split -b 15m - "$OUT/chain.tar."
}
