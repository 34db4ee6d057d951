#!/usr/bin/env bash
# Installs the Debian packages spread's tests (and, with --bench or
# --experiments, its benchmarks and lab) use, when they are missing.
# As root it installs them with apt-get; otherwise it only says what is
# missing (tests that need them skip with a message).
set -euo pipefail

test_pkgs=(openssl distro-info-data curl chromium libnss3-tools iptables nftables conntrack iproute2 prometheus influxdb util-linux procps python3-hypercorn python3-fastapi python3-trio python3-locust python3-websockets haproxy caddy)
bench_pkgs=(wrk hey nghttp2-client python3-hypercorn python3-fastapi util-linux)
lab_pkgs=(iptables nftables conntrack iproute2 util-linux procps haproxy caddy python3-locust python3-hypercorn python3-fastapi python3-trio)

want=("${test_pkgs[@]}")
case "${1:-}" in
  --bench) want+=("${bench_pkgs[@]}") ;;
  --experiments) want=("${lab_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: not root, not installing: ${missing[*]} (tests needing them will skip)" >&2
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
