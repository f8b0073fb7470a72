# Sourced by twin_lease.sh and twin_pair_gpu.sh: what a lease call sends back.
# pack_lease DIR: adds the last.pt of every stage under $RUNS that did not finish (<stage>_last.pt, so
# the next lease resumes it), then writes DIR as one tar split into 15 MB pieces, $OUT/chain.tar.*
# (a call returns at most 8 files of 16 MB). Here: `cat chain.tar.* | tar x`.
pack_lease() {
  local dir
  for dir in "$RUNS"/*/; do
    [ -f "$dir/done" ] || [ ! -f "$dir/last.pt" ] || cp -f "$dir/last.pt" "$1/$(basename "$dir")_last.pt"
  done
  rm -f "$OUT"/chain.tar.*
  tar cf - -C "$1" . | split -b 15m - "$OUT/chain.tar."
}
