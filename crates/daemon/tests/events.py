"""libvirt-python against oxvirtd: lifecycle events for define/start/destroy/undefine.

Usage: /usr/bin/python3 events.py URI   (exits 0 and prints the events on success)
"""
import sys
import threading
import time

import libvirt

XML = """<domain type='test'>
  <name>pyevents</name>
  <uuid>7a1d5a8e-0c64-4d7e-9a4c-2f1a9b8e6c01</uuid>
  <memory>524288</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
</domain>"""

# (event, detail) numbers: DEFINED/ADDED, STARTED/BOOTED, STOPPED/DESTROYED, UNDEFINED/REMOVED
EXPECTED = [(0, 0), (2, 0), (5, 1), (1, 0)]


def main(uri):
    libvirt.virEventRegisterDefaultImpl()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            libvirt.virEventRunDefaultImpl()

    threading.Thread(target=loop, daemon=True).start()
    conn = libvirt.open(uri)
    got = []
    cond = threading.Condition()

    def cb(c, dom, event, detail, opaque):
        with cond:
            got.append((dom.name(), event, detail))
            cond.notify_all()

    cid = conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, cb, None)
    dom = conn.defineXML(XML)
    dom.create()
    assert dom.isActive() == 1
    assert dom.info()[0] == libvirt.VIR_DOMAIN_RUNNING
    dom.destroy()
    dom.undefine()
    deadline = time.time() + 10
    with cond:
        while len(got) < len(EXPECTED) and time.time() < deadline:
            cond.wait(0.2)
    conn.domainEventDeregisterAny(cid)
    print(got)
    mine = [(e, d) for (n, e, d) in got if n == "pyevents"]
    if mine != EXPECTED:
        print("expected", EXPECTED, "got", mine, file=sys.stderr)
        return 1
    # The same connection keeps working after the events.
    names = [d.name() for d in conn.listAllDomains()]
    assert "pyevents" not in names and "test" in names, names
    conn.close()
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
