#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install every Debian package Sluice needs to build, test and benchmark.
# Idempotent: does nothing when all packages are present.
set -euo pipefail

PKGS=(
  make gcc clang llvm pkg-config
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libyaml-dev libpcre2-dev libcmocka-dev node-llhttp libc-ares-dev
  libcurl4-openssl-dev libjson-c-dev openssl libssl-dev libnghttp2-dev nghttp2-client
  python3-h2
  libclang-rt-14-dev
  iproute2 iptables haproxy wrk python3 jq
  ethtool curl time procps util-linux tmux
  prometheus python3-yaml
)
# prometheus: tests/e2e/test_prometheus.sh runs its own prometheus and
# promtool binaries in a test namespace. On a host booted with systemd,
# Debian's package also enables and starts prometheus.service (port 9090);
# `systemctl disable --now prometheus` if that is not wanted.

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: need root to install packages" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
