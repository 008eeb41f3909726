#!/usr/bin/env bash
# Installs the system packages oxvirt's build, demo and tests need, only those missing.
# Debian/Ubuntu; run as root (or with sudo available). Idempotent and quiet when all is present.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# QEMU: installing qemu-system-x86 alone can remove a preinstalled qemu-utils of another
# version, so both always go in one command.
if ! have qemu-system-x86_64 || ! have qemu-img; then need+=(qemu-system-x86 qemu-utils); fi
have xmllint || need+=(libxml2-utils)
have virsh || need+=(libvirt-clients)
/usr/bin/python3 -c 'import libvirt' >/dev/null 2>&1 || need+=(python3-libvirt)
have dnsmasq || need+=(dnsmasq-base)
have nft || need+=(nftables)
have ip || need+=(iproute2)
have cpio || need+=(cpio)
[ -x /bin/busybox ] || pkg_installed busybox-static || need+=(busybox-static)
have zstd || need+=(zstd)
have openssl || need+=(openssl)

if [ ${#need[@]} -eq 0 ]; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${need[*]}" >&2
# wait for another apt run (e.g. unattended upgrades) rather than fail on its lock
for _ in $(seq 1 120); do
  pgrep -x apt-get >/dev/null 2>&1 || pgrep -x dpkg >/dev/null 2>&1 || break
  sleep 1
done
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
