#!/bin/bash
# Build the tiny test guest used by oxvirt's end-to-end QEMU tests.
#
# Usage: scripts/guest-image.sh [OUTDIR]      (default: <repo>/target/guest)
#
# Outputs in OUTDIR: vmlinuz, initrd-poweroff.img, initrd-shell.img, manifest.txt.
# The kernel and its modules come from Debian's linux-image-cloud-amd64, the
# userland is busybox-static; /init speaks the protocol in docs/guest-image.md.
# Re-running is cheap: nothing is rebuilt while the outputs are newer than this
# script (set OXVIRT_GUEST_FORCE=1 to rebuild anyway).
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SCRIPT")")
OUTDIR=${1:-$REPO/target/guest}
mkdir -p "$OUTDIR"
OUTDIR=$(readlink -f "$OUTDIR")
OUTPUTS=(vmlinuz initrd-poweroff.img initrd-shell.img manifest.txt)

# Modules copied into the initramfs (with their dependencies) when they are
# modules rather than built in. virtio_pci is what finds the PCI devices;
# button+evdev let busybox acpid turn an ACPI power-button press into poweroff.
WANT_MODULES=(virtio_pci virtio_net virtio_blk virtio_console virtio_rng button evdev)

log() { echo "guest-image: $*" >&2; }
die() { log "error: $*"; exit 1; }

print_outputs() {
    local f
    for f in vmlinuz initrd-poweroff.img initrd-shell.img; do
        echo "$OUTDIR/$f"
    done
}

up_to_date() {
    [ "${OXVIRT_GUEST_FORCE:-0}" = 1 ] && return 1
    local f
    for f in "${OUTPUTS[@]}"; do
        [ "$OUTDIR/$f" -nt "$SCRIPT" ] || return 1
    done
}

# Fast path before taking the lock or touching apt.
if up_to_date; then
    print_outputs
    exit 0
fi

# Serialise concurrent builds into the same OUTDIR (parallel test binaries).
exec 9>"$OUTDIR/.lock"
flock -w 900 9 || die "timed out waiting for another build holding $OUTDIR/.lock"
if up_to_date; then
    print_outputs
    exit 0
fi

# ---------------------------------------------------------------- apt helpers

# Another apt/dpkg (e.g. a background qemu install) holds the locks: wait for
# it instead of failing on the dpkg lock.
wait_for_apt() {
    local waited=0
    while pgrep -x 'apt|apt-get|aptitude|dpkg|unattended-upgr' >/dev/null 2>&1; do
        if [ "$waited" -eq 0 ]; then
            log "waiting for a running apt/dpkg to finish"
        fi
        [ "$waited" -ge 900 ] && die "apt/dpkg still running after ${waited}s"
        sleep 2
        waited=$((waited + 2))
    done
}

APT_UPDATED=0
apt_update_once() {
    [ "$APT_UPDATED" = 1 ] && return 1
    APT_UPDATED=1
    wait_for_apt
    log "apt-get update"
    timeout 600 apt-get update -q >&2 || die "apt-get update failed"
}

# Install packages whose marker file is missing: need_pkg FILE PACKAGE.
MISSING_PKGS=()
need_pkg() {
    [ -e "$1" ] || MISSING_PKGS+=("$2")
}

install_missing() {
    [ "${#MISSING_PKGS[@]}" -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "need root to install: ${MISSING_PKGS[*]}"
    local try
    for try in 1 2; do
        wait_for_apt
        log "apt-get install ${MISSING_PKGS[*]}"
        if DEBIAN_FRONTEND=noninteractive timeout 900 \
            apt-get install -y -q --no-install-recommends "${MISSING_PKGS[@]}" >&2; then
            return 0
        fi
        if [ "$try" = 1 ]; then apt_update_once || true; fi
    done
    die "apt-get install ${MISSING_PKGS[*]} failed"
}

# ------------------------------------------------------------------ host tools

need_pkg /bin/busybox busybox-static
need_pkg /usr/bin/cpio cpio
need_pkg /usr/bin/dpkg-deb dpkg
need_pkg /usr/bin/apt-cache apt
# A dynamically linked /bin/busybox (package "busybox") would not run in the
# initramfs; busybox-static replaces it.
if [ -e /bin/busybox ] && LC_ALL=C ldd /bin/busybox >/dev/null 2>&1; then
    MISSING_PKGS+=(busybox-static)
fi
install_missing
BUSYBOX=/bin/busybox

# ---------------------------------------------------------------------- kernel

WORK="$OUTDIR/work"
mkdir -p "$WORK"

kernel_pkg() {
    LC_ALL=C apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-.*-cloud-amd64$/ { print $2; exit }'
}

KPKG=$(kernel_pkg || true)
if [ -z "$KPKG" ]; then
    apt_update_once || true
    KPKG=$(kernel_pkg || true)
fi
[ -n "$KPKG" ] || die "cannot resolve linux-image-cloud-amd64 to a versioned kernel package"
KVER=${KPKG#linux-image-}

find_kdeb() {
    find "$WORK" -maxdepth 1 -name "${KPKG}_*.deb" | head -n1
}
KDEB=$(find_kdeb)
if [ -z "$KDEB" ]; then
    log "downloading $KPKG"
    rm -f "$WORK"/linux-image-*.deb
    ok=0
    for try in 1 2; do
        if (cd "$WORK" && timeout 600 apt-get download -q -o APT::Sandbox::User=root "$KPKG" >&2); then
            ok=1
            break
        fi
        # Stale package lists name a version the mirror no longer has.
        if [ "$try" = 1 ]; then
            apt_update_once || true
            KPKG=$(kernel_pkg || true)
            [ -n "$KPKG" ] || die "cannot resolve linux-image-cloud-amd64 after apt-get update"
            KVER=${KPKG#linux-image-}
        fi
    done
    [ "$ok" = 1 ] || die "apt-get download $KPKG failed"
    KDEB=$(find_kdeb)
    [ -n "$KDEB" ] || die "apt-get download left no ${KPKG}_*.deb in $WORK"
fi

KROOT="$WORK/kernel-$KVER"
# Drop unpacked trees of kernels we no longer use.
find "$WORK" -maxdepth 1 -name 'kernel-*' ! -name "kernel-$KVER" -exec rm -rf {} +
if [ ! -e "$KROOT/.unpacked" ]; then
    log "unpacking $(basename "$KDEB")"
    rm -rf "$KROOT"
    dpkg-deb -x "$KDEB" "$KROOT"
    touch "$KROOT/.unpacked"
fi
VMLINUZ="$KROOT/boot/vmlinuz-$KVER"
MODDIR="$KROOT/lib/modules/$KVER"
[ -f "$VMLINUZ" ] || die "$VMLINUZ missing from $KDEB"
[ -d "$MODDIR" ] || die "$MODDIR missing from $KDEB"

# ------------------------------------------------------------------- modules

# Module names use '_' and '-' interchangeably (virtio_rng is virtio-rng.ko).
find_module() {
    local pat=${1//[-_]/[-_]}
    find "$MODDIR/kernel" -regextype posix-extended -type f \
        -regex ".*/${pat}\.ko(\.xz|\.zst|\.gz)?" | head -n1
}

is_builtin() {
    local pat=${1//[-_]/[-_]}
    grep -Eq "/${pat}\.ko\$" "$MODDIR/modules.builtin" 2>/dev/null
}

# Decompressed copy of a module (busybox insmod wants plain .ko).
plain_module() {
    case "$1" in
        *.ko.xz) xz -dc "$1" ;;
        *.ko.zst) zstd -qdc "$1" ;;
        *.ko.gz) gzip -dc "$1" ;;
        *) cat "$1" ;;
    esac
}

module_depends() {
    plain_module "$1" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '
}

declare -A MOD_FILE=()   # module name -> source file
MOD_ORDER=()             # dependencies before dependants
BUILTIN=()
add_module() {
    local name=${1//-/_} file dep
    [ -n "${MOD_FILE[$name]+x}" ] && return 0
    if is_builtin "$name"; then
        BUILTIN+=("$name")
        MOD_FILE[$name]=builtin
        return 0
    fi
    file=$(find_module "$name")
    [ -n "$file" ] || die "kernel module $name is neither built in nor in $KPKG"
    case "$file" in *.xz) need_pkg /usr/bin/xz xz-utils ;; *.zst) need_pkg /usr/bin/zstd zstd ;; esac
    install_missing
    MOD_FILE[$name]=$file
    for dep in $(module_depends "$file"); do
        add_module "$dep"
    done
    MOD_ORDER+=("$name")
}
for m in "${WANT_MODULES[@]}"; do
    add_module "$m"
done

# ------------------------------------------------------------------ initramfs

STAGE="$WORK/rootfs"
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,etc/udhcpc,etc/acpi/PWRF,proc,sys,dev,run,tmp,root,lib/modules/"$KVER"}
chmod 1777 "$STAGE/tmp"
cp "$BUSYBOX" "$STAGE/bin/busybox"
for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -s busybox "$STAGE/bin/$a"
done
if [ "$(id -u)" = 0 ]; then
    # The kernel opens /dev/console for /init before devtmpfs is mounted.
    mknod -m 600 "$STAGE/dev/console" c 5 1
    mknod -m 666 "$STAGE/dev/null" c 1 3
fi

ORDERFILE="$STAGE/lib/modules/oxvirt-load-order"
: >"$ORDERFILE"
for m in "${MOD_ORDER[@]}"; do
    src=${MOD_FILE[$m]}
    rel=${src#"$MODDIR"/}
    rel=${rel%.xz}; rel=${rel%.zst}; rel=${rel%.gz}
    mkdir -p "$STAGE/lib/modules/$KVER/$(dirname "$rel")"
    plain_module "$src" >"$STAGE/lib/modules/$KVER/$rel"
    echo "$m /lib/modules/$KVER/$rel" >>"$ORDERFILE"
done
cp "$MODDIR/modules.builtin" "$MODDIR/modules.order" "$STAGE/lib/modules/$KVER/" 2>/dev/null || true
"$BUSYBOX" depmod -b "$STAGE" "$KVER" || die "busybox depmod failed"

cat >"$STAGE/etc/udhcpc/default.script" <<'EOF'
#!/bin/sh
# busybox udhcpc event hook: configure $interface from the lease.
case "$1" in
    deconfig)
        ip addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
        for r in $router; do
            ip route replace default via "$r" dev "$interface"
            break
        done
        : >/etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
        echo "$ip" >/run/oxvirt-ip
        ;;
esac
exit 0
EOF
chmod 755 "$STAGE/etc/udhcpc/default.script"

cat >"$STAGE/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# ACPI power button (QMP system_powerdown / virsh shutdown).
printf '\nOXVIRT-ACPI-POWEROFF\n' >/dev/ttyS0 2>/dev/null || printf '\nOXVIRT-ACPI-POWEROFF\n' >/dev/console
sync
poweroff -f
EOF
chmod 755 "$STAGE/etc/acpi/PWRF/00000080"

echo "root:x:0:0:root:/root:/bin/sh" >"$STAGE/etc/passwd"
echo "root:x:0:" >"$STAGE/etc/group"

cat >"$STAGE/init" <<'EOF'
#!/bin/sh
# oxvirt test guest init; protocol documented in docs/guest-image.md.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o mode=755 tmpfs /run
hostname oxvirt-guest

# All protocol output goes to the first serial port, whatever console= says.
if [ -c /dev/ttyS0 ]; then TTY=/dev/ttyS0; else TTY=/dev/console; fi
exec </dev/null >"$TTY" 2>&1

MODE=$(cat /etc/oxvirt-default-mode 2>/dev/null)
PING=
TCP=
THEN=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        oxvirt.mode=*) MODE=${arg#oxvirt.mode=} ;;
        oxvirt.ping=*) PING=${arg#oxvirt.ping=} ;;
        oxvirt.tcp=*) TCP=${arg#oxvirt.tcp=} ;;
        oxvirt.then=*) THEN=${arg#oxvirt.then=} ;;
    esac
done

# The firmware and kernel leave escape sequences on the current line, so
# start on a fresh one: every protocol line is exactly what the docs say.
up_marker() {
    echo
    echo "OXVIRT-MODE $1"
    echo "OXVIRT-GUEST-UP"
}

die_off() {
    echo
    echo "OXVIRT-ERROR $*"
    sync
    poweroff -f
    sleep 1000000
}

load_modules() {
    local m
    for m in "$@"; do
        [ -d "/sys/module/$m" ] && continue
        modprobe "$m" 2>/dev/null && continue
        # Fallback: insmod the recorded dependency order by hand.
        while read -r name path; do
            [ -d "/sys/module/$name" ] || insmod "$path" || return 1
            [ "$name" = "$m" ] && break
        done </lib/modules/oxvirt-load-order
    done
}

# Drivers for every virtio device a test may give us (and hotplug later),
# loaded before the up marker so devices are usable once it is seen.
load_drivers() {
    for m in virtio_pci virtio_net virtio_blk virtio_console virtio_rng button evdev; do
        load_modules "$m" || echo "OXVIRT-ERROR module $m"
    done
}

# acpid forks into the background before it opens the input devices; a power-button press
# before that is lost. The up marker promises that shutdown works, so wait (up to 5 s) until
# acpid holds an event device.
start_acpid() {
    acpid -c /etc/acpi -l /run/acpid.log -p /run/acpid.pid 2>/dev/null
    i=0
    while [ "$i" -lt 50 ]; do
        pid=$(cat /run/acpid.pid 2>/dev/null)
        if [ -n "$pid" ] && ls -l "/proc/$pid/fd" 2>/dev/null | grep -q /dev/input/event; then
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "OXVIRT-ERROR acpid holds no input device"
}

run_shell() {
    export PS1='oxvirt# ' HOME=/root
    cd /root || true
    while true; do
        # Echo off makes ash skip line editing: no echoed input and no
        # cursor-position queries on the wire, just prompts and output.
        stty -echo <"$TTY" 2>/dev/null
        # -c makes the serial port the controlling tty, so ^C works.
        setsid -c sh <"$TTY" >"$TTY" 2>&1
        sleep 1
    done
}

net_up() {
    if [ ! -d /sys/module/virtio_net ]; then
        echo "OXVIRT-NET fail modules"
        return 1
    fi
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if [ ! -e /sys/class/net/eth0 ]; then
        echo "OXVIRT-NET fail no-eth0"
        return 1
    fi
    ip link set lo up
    ip link set eth0 up
    if ! udhcpc -i eth0 -f -q -n -t 10 -T 1 -s /etc/udhcpc/default.script >/run/udhcpc.log 2>&1; then
        echo "OXVIRT-NET fail dhcp"
        return 1
    fi
    echo "OXVIRT-NET ip=$(cat /run/oxvirt-ip)"
}

net_checks() {
    if [ -n "$PING" ]; then
        if ping -c 3 -i 0.2 -W 3 -w 15 "$PING" >/run/ping.log 2>&1; then
            echo "OXVIRT-PING ok $PING"
        else
            echo "OXVIRT-PING fail $PING"
        fi
    fi
    if [ -n "$TCP" ]; then
        host=${TCP%:*}
        port=${TCP##*:}
        # rc 0: peer closed after our hello; 143: connected, peer kept it open.
        echo "OXVIRT-TCP-HELLO" | timeout 10 nc -w 5 "$host" "$port" >/run/tcp.log 2>&1
        rc=$?
        if [ "$rc" = 0 ] || [ "$rc" = 143 ]; then
            echo "OXVIRT-TCP ok $TCP"
        else
            echo "OXVIRT-TCP fail $TCP"
        fi
    fi
}

case "$MODE" in
    poweroff)
        up_marker poweroff
        sync
        poweroff -f
        sleep 1000000
        ;;
    shell)
        load_drivers
        start_acpid
        up_marker shell
        ;;
    net)
        load_drivers
        start_acpid
        up_marker net
        net_up && net_checks
        echo "OXVIRT-NET-DONE"
        ;;
    *)
        die_off "unknown oxvirt.mode '$MODE'"
        ;;
esac

if [ "$THEN" = poweroff ]; then
    sync
    poweroff -f
    sleep 1000000
fi
run_shell
EOF
chmod 755 "$STAGE/init"

# Two images that differ only in the default mode.
build_initrd() { # MODE OUTFILE
    echo "$1" >"$STAGE/etc/oxvirt-default-mode"
    local tmp="$2.tmp.$$"
    # Fixed mtimes and inode numbers: same inputs give byte-identical images.
    find "$STAGE" -exec touch -h -d @0 {} +
    (cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort \
        | cpio --quiet -o -H newc -R 0:0 --reproducible | gzip -9n) >"$tmp"
    sync "$tmp" 2>/dev/null || sync
    mv -f "$tmp" "$2"
}
build_initrd poweroff "$OUTDIR/initrd-poweroff.img"
build_initrd shell "$OUTDIR/initrd-shell.img"

tmp="$OUTDIR/vmlinuz.tmp.$$"
cp "$VMLINUZ" "$tmp"
mv -f "$tmp" "$OUTDIR/vmlinuz"

tmp="$OUTDIR/manifest.txt.tmp.$$"
{
    echo "kernel_package=$KPKG"
    echo "kernel_deb=$(basename "$KDEB")"
    echo "kernel_release=$KVER"
    echo "busybox=$("$BUSYBOX" 2>&1 | head -n1)"
    echo "modules=${MOD_ORDER[*]}"
    echo "builtin=${BUILTIN[*]}"
} >"$tmp"
mv -f "$tmp" "$OUTDIR/manifest.txt"

log "built guest for $KPKG in $OUTDIR"
print_outputs
