"""A real nginx on a free loopback port balancing HTTP, WebSocket and SSE across instances
(the same configuration as test_chaos.py's); started for a test and stopped by PID. No
proxy_buffering setting: the stream's `X-Accel-Buffering: no` must be what unbuffers it."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import free_port, listening


class Nginx:
    """`locations`: extra nginx `location` blocks placed before the catch-all proxy one (a test
    that needs a path blocked, say)."""

    def __init__(self, ports, locations=""):
        if not shutil.which("nginx"):
            pytest.fail("nginx is not installed (Scripts/test.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="switchboard-nginx-")
        os.makedirs(f"{self.dir}/logs")
        # A free port can be taken between the look-up and nginx's bind (nginx then exits): try
        # another until this nginx itself listens.
        for _ in range(5):
            self.port = free_port()
            self._start(ports, locations)
            deadline = time.time() + 10
            while time.time() < deadline and self.proc.poll() is None and not listening(self.proc.pid, self.port):
                time.sleep(0.02)
            if self.proc.poll() is None:
                break
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not start")

    def _start(self, ports, locations):
        """Writes the configuration for `self.port` and starts nginx on it."""
        servers = "".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;\n" for p in ports)
        with open(f"{self.dir}/nginx.conf", "w") as f:
            f.write(f"""worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/logs/error.log crit;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream switchboard {{
{servers}    }}
    server {{
        listen 127.0.0.1:{self.port};
{locations}
        location / {{
            proxy_pass http://switchboard;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", f"{self.dir}/nginx.conf", "-p", self.dir, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
