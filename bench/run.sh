#!/usr/bin/env bash
# make bench: every benchmark of the project, each comparing against a peer
# measured in the same run (ratios, not absolute times), then
# docs/BENCHMARKS.md assembled from the sections in docs/bench/.
set -uo pipefail
cd "$(dirname "$0")/.."
./.ci/deps.sh --bench
export PATH="$PWD/bin:$PATH"
status=0
for b in bench/parts/*.sh; do
  [ -e "$b" ] || continue
  echo "== $b" >&2
  if ! "$b"; then echo "bench: $b failed" >&2; status=1; fi
done
{
  echo "# Benchmarks"
  echo
  echo "Made by \`make bench\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(go version | cut -d' ' -f3))."
  echo "Each table compares spread's parts with a peer measured in the same run;"
  echo "read the ratios, not the absolute numbers (the machines here are noisy)."
  for f in docs/bench/*.md; do
    [ -e "$f" ] || continue
    echo
    sed 's/^# /## /' "$f"
  done
} > docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md" >&2
exit $status
