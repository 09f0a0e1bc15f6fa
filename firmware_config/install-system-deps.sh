#!/usr/bin/env bash
# Installs the Debian packages Titik needs, only those missing. Used by `make setup`
# on a developer machine and by provisioning on a box.
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [mosquitto]=mosquitto
  [mosquitto_pub]=mosquitto-clients
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [dnsmasq]=dnsmasq
  [hostapd]=hostapd
  [nft]=nftables
  [systemd-analyze]=systemd
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${wanted[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "Installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The Debian packages enable their services; Titik starts its own instances.
for svc in mosquitto dnsmasq hostapd; do
  $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
