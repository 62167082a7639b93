"""Free loopback ports and whose socket listens on one; no pytest here, so the launchers run
as commands too (redis_server.py for the Swift tests)."""
import os
import socket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(pid, port):
    """True when process `pid` (not whoever else may hold the port) has a listening TCP socket on
    `port`: its socket inodes (/proc/PID/fd) against the LISTEN rows of /proc/net/tcp*. Lets a
    launcher tell "ours is up" from "another process took the port"."""
    fd_dir = f"/proc/{pid}/fd"
    inodes = set()
    try:
        for fd in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                return True
    return False
