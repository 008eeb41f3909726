#!/usr/bin/env bash
# Installs the system packages oxvirt's build, demo and tests need, only those missing.
# Debian/Ubuntu; run as root (or with sudo available). Idempotent and quiet when all is present.
# `--bench` adds what the benchmarks compare against (`make bench`): libvirt 9's daemon with its QEMU
# driver, and iptables, which libvirt 9's network driver runs for NAT rules. These Debian packages
# ship no maintainer scripts, services or config (iptables' postinst only registers alternatives);
# the services, the `default` network and its autostart come with libvirt-daemon-system, which
# --no-install-recommends keeps out. So nothing starts and the host's network stays as it is.
set -euo pipefail

bench=0
for a in "$@"; do
  case "$a" in
    --bench) bench=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

need_qemu=0
if ! have qemu-system-x86_64 || ! have qemu-img; then need_qemu=1; fi
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
# UEFI guests and the golden command-line tests that boot them need OVMF's firmware images.
[ -e /usr/share/OVMF/OVMF_CODE_4M.fd ] || need+=(ovmf)
if [ $bench -eq 1 ]; then
  [ -x /usr/sbin/libvirtd ] || need+=(libvirt-daemon)
  pkg_installed libvirt-daemon-driver-qemu || need+=(libvirt-daemon-driver-qemu)
  [ -x /usr/sbin/iptables ] || need+=(iptables)
  # Debian 13+ split the network driver out of libvirt-daemon.
  if ! ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_network.so >/dev/null 2>&1 &&
     apt-cache show libvirt-daemon-driver-network >/dev/null 2>&1; then
    need+=(libvirt-daemon-driver-network)
  fi
fi

if [ ${#need[@]} -eq 0 ] && [ $need_qemu -eq 0 ]; then exit 0; fi
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
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# QEMU: qemu-system-x86 and qemu-utils always go in one command (installing one alone can remove
# the other). Some images ship a backports qemu-utils that breaks the release's qemu-system; then
# take both from backports through a private source list, leaving the system's sources untouched.
if [ $need_qemu -eq 1 ]; then
  if ! $SUDO apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-utils >/dev/null 2>&1; then
    # shellcheck disable=SC1091
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    tmp=$(mktemp -d)
    mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
    {
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename main"
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename-updates main"
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security $codename-security main"
      echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $codename-backports main"
    } > "$tmp/sources.list"
    o=(-o Dir::Etc::sourcelist="$tmp/sources.list" -o Dir::Etc::sourceparts=- -o Dir::State::lists="$tmp/lists"
       -o Dir::Cache::archives="$tmp/archives")
    $SUDO apt-get "${o[@]}" update -qq
    $SUDO apt-get "${o[@]}" install -y -qq --no-install-recommends -t "$codename-backports" qemu-system-x86 qemu-utils >/dev/null
    rm -rf "$tmp"
  fi
fi
