#!/usr/bin/env bash
# The Debian packages the test suite drives, installed where missing (`make test`; serving needs none of them):
# espeak-ng and sox speak and resample test sentences, chromium renders the status page, postgresql runs the
# ledger on PostgreSQL, prometheus brings promtool, which checks and unit-tests deploy/observability/'s rules.
# Needs root, or sudo without a password; otherwise it names what to install and fails.
set -uo pipefail

declare -A CHECK=(
  [espeak-ng]="command -v espeak-ng"
  [sox]="command -v sox"
  [chromium]="command -v chromium"
  [postgresql]="compgen -G '/usr/lib/postgresql/*/bin/initdb'"
  [prometheus]="command -v promtool"
)
missing=()
for package in espeak-ng sox chromium postgresql prometheus; do
  eval "${CHECK[$package]}" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

give_up() {
  echo "make test needs these Debian packages, which are missing: ${missing[*]}" >&2
  echo "Install them, then run make test again:  sudo apt-get install ${missing[*]}" >&2
  exit 1
}
if [ "$EUID" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  give_up
fi
echo "Installing the test suite's system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -q "${missing[@]}" \
  || { "${as_root[@]}" apt-get update -q && "${as_root[@]}" apt-get install -y -q "${missing[@]}"; } \
  || give_up
# Only promtool is wanted from prometheus: where systemd runs, the server the package starts is stopped again.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  "${as_root[@]}" systemctl disable --now prometheus prometheus-node-exporter 2>/dev/null || true
fi
