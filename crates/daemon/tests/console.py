"""Drives `virsh console` in a pty: waits for the guest shell, runs a command, leaves with ^].

Usage: /usr/bin/python3 console.py URI DOMAIN
"""
import os, pty, sys, time, select
uri = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("virsh", ["virsh", "-c", uri, "console", "--force", sys.argv[2]])
buf = b""
def read_until(needle, timeout):
    global buf
    end = time.time() + timeout
    while needle not in buf and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return needle in buf
ok1 = read_until(b"Escape character", 30)
# The guest may still be booting: poke it until its shell prompt shows.
deadline = time.time() + 120
prompt = False
while ok1 and not prompt and time.time() < deadline:
    os.write(fd, b"\r")
    prompt = read_until(b"oxvirt# ", 3)
buf = b""
os.write(fd, b"echo hello-$((6*7))\r")
ok2 = prompt and read_until(b"hello-42", 30)
os.write(fd, b"\x1d")
time.sleep(1)
_, status = os.waitpid(pid, 0)
print(repr(buf[-300:]))
print("connected", ok1, "roundtrip", ok2, "exit", status)
sys.exit(0 if ok1 and ok2 and status == 0 else 1)
