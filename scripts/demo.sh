#!/usr/bin/env bash
# `make demo`: boots the tiny test guest (scripts/guest-image.sh) with oxvirt's QEMU driver in embedded
# mode — no daemon, all state under one directory — shows its console, `list` and `dominfo`, and leaves it
# running. Safe to re-run: a previous demo guest in the same root is destroyed and undefined first.
#
# Environment: OXVIRT (the binary, default target/release/oxvirt), OXVIRT_DEMO_ROOT (state directory,
# default target/demo-root), OXVIRT_GUEST_DIR (guest image directory, default target/guest).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OXVIRT=${OXVIRT:-$REPO/target/release/oxvirt}
ROOT=${OXVIRT_DEMO_ROOT:-$REPO/target/demo-root}
GUEST=${OXVIRT_GUEST_DIR:-$REPO/target/guest}
NAME=oxvirt-demo
BOOT_TIMEOUT=${OXVIRT_DEMO_TIMEOUT:-120}

[ -x "$OXVIRT" ] || cargo build --release -p oxvirt-cli
scripts/guest-image.sh "$GUEST" >/dev/null
mkdir -p "$ROOT"
ROOT=$(cd "$ROOT" && pwd)
GUEST=$(cd "$GUEST" && pwd)
URI="qemu:///embed?root=$ROOT"

# The domain XML with the guest's paths filled in.
XML=$ROOT/$NAME.xml
sed "s|@GUEST_DIR@|$GUEST|g" examples/demo.xml >"$XML.tmp" && mv "$XML.tmp" "$XML"

ox() { "$OXVIRT" -c "$URI" "$@"; }
show() {
  echo "\$ oxvirt -c '$URI' $*"
  ox "$@"
}

echo "== oxvirt $(ox --version), QEMU driver in embedded mode, state under $ROOT"
echo

# A previous run's guest: stop and forget it (quietly; nothing to do on a first run).
if ox domstate "$NAME" >/dev/null 2>&1; then
  echo "(removing the demo guest of a previous run)"
  ox destroy "$NAME" >/dev/null 2>&1 || true
  ox undefine "$NAME" --managed-save >/dev/null 2>&1 || true
fi

show define "$XML"
# Started paused so the console is attached before the first byte of the boot: a pty drops what the
# guest writes while nobody has it open.
show start "$NAME" --paused

CONSOLE_LOG=$ROOT/$NAME-console.log
: >"$CONSOLE_LOG"
# `console` with no terminal on stdin just copies the pty to stdout; `timeout` bounds it.
timeout "$BOOT_TIMEOUT" "$OXVIRT" -c "$URI" console "$NAME" </dev/null >"$CONSOLE_LOG" 2>&1 &
CONSOLE_PID=$!
stop_console() { kill "$CONSOLE_PID" 2>/dev/null || true; wait "$CONSOLE_PID" 2>/dev/null || true; }
trap stop_console EXIT
for _ in $(seq 1 100); do
  grep -q '^Connected to domain' "$CONSOLE_LOG" && break
  kill -0 "$CONSOLE_PID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^Connected to domain' "$CONSOLE_LOG"; then
  echo "error: could not attach to the console of $NAME:" >&2
  cat "$CONSOLE_LOG" >&2
  exit 1
fi
show resume "$NAME"

echo "--- serial console of $NAME (booting; waiting for OXVIRT-GUEST-UP) ---"
shown=0
deadline=$((SECONDS + BOOT_TIMEOUT))
up=0
while :; do
  # Print the complete lines that arrived since the last look.
  total=$(tr -d '\r' <"$CONSOLE_LOG" | wc -l)
  if [ "$total" -gt "$shown" ]; then
    tr -d '\r' <"$CONSOLE_LOG" | sed -n "$((shown + 1)),${total}p" | grep -v -e '^Connected to domain' -e '^Escape character is' | sed 's/^/  | /' || true
    shown=$total
  fi
  if tr -d '\r' <"$CONSOLE_LOG" | grep -qx 'OXVIRT-GUEST-UP'; then up=1; fi
  # After the marker, wait for the shell prompt (it has no newline) and stop.
  if [ $up = 1 ] && tr -d '\r' <"$CONSOLE_LOG" | tail -n 1 | grep -q '^oxvirt# '; then
    echo "  | oxvirt# "
    break
  fi
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$CONSOLE_PID" 2>/dev/null; then
    [ $up = 1 ] && break
    echo "error: the guest did not print OXVIRT-GUEST-UP within ${BOOT_TIMEOUT}s; QEMU log:" >&2
    tail -n 20 "$ROOT/log/qemu/$NAME.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
stop_console
trap - EXIT
echo "--- (console detached; the guest keeps running) ---"
echo

show list --all
show dominfo "$NAME"
show domstate "$NAME" --reason

cat <<EOF
The guest keeps running after this script (and every oxvirt call) exits; each call re-attaches to it.
  Its console (a root shell; Ctrl+] leaves):  $OXVIRT -c '$URI' console $NAME
  Stop it:                                    $OXVIRT -c '$URI' destroy $NAME
  Remove it:                                  $OXVIRT -c '$URI' undefine $NAME
  Or just run 'make demo' again: it starts over.
EOF
