#!/usr/bin/env bash
# make bench: every benchmark of the project, each comparing against a peer
# measured in the same run (ratios, not absolute times), then
# docs/BENCHMARKS.md assembled from the sections in docs/bench/.
set -uo pipefail
cd "$(dirname "$0")/.."
# BENCH_ONLY=NAME runs only bench/parts/*NAME*.sh; BENCH_ASSEMBLE=1 only
# rebuilds docs/BENCHMARKS.md from the sections already in docs/bench/.
status=0
[ "${BENCH_ASSEMBLE:-}" = 1 ] || ./.ci/deps.sh --bench
export PATH="$PWD/bin:$PATH"
for b in bench/parts/*${BENCH_ONLY:-}*.sh; do
  [ "${BENCH_ASSEMBLE:-}" = 1 ] && break
  [ -e "$b" ] || continue
  echo "== $b" >&2
  if ! "$b"; then echo "bench: $b failed" >&2; status=1; fi
done
{
  echo "# Benchmarks"
  echo
  echo "Made by \`make bench\` (bench/run.sh; each section says its own command and date),"
  echo "assembled on $(date -u +%Y-%m-%d) ($(nproc) cores, $(go version | cut -d' ' -f3))."
  echo "Each table compares spread's parts with a peer measured in the same run;"
  echo "read the ratios, not the absolute numbers (the machines here are noisy)."
  for f in docs/bench/*.md; do
    [ -e "$f" ] || continue
    echo
    # Each section's first heading becomes a level-2 heading, the rest follow.
    awk 'BEGIN{shift=-1} /^#+ /{match($0,/^#+/); if(shift<0) shift=2-RLENGTH; p=""; for(i=0;i<RLENGTH+shift;i++) p=p "#"; $0=p substr($0,RLENGTH+1)} {print}' "$f"
  done
} > docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md" >&2
exit $status
