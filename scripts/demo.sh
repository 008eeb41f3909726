#!/usr/bin/env bash
# Shows oxvirt working on this machine. Uses the QEMU driver in embedded mode (no daemon) when it is
# built in; until then the in-memory test driver.
set -euo pipefail
cd "$(dirname "$0")/.."
OXVIRT=${OXVIRT:-target/release/oxvirt}
[ -x "$OXVIRT" ] || cargo build --release -p oxvirt-cli
echo "== oxvirt $("$OXVIRT" --version) on test:///default"
run() { echo "\$ oxvirt $*"; "$OXVIRT" "$@"; }
run -c test:///default nodeinfo
run -c test:///default list --all
run -c test:///default "dominfo test; suspend test; domstate --reason test; resume test; list"
run -c test:///default net-list --all
run -c test:///default pool-list --all
