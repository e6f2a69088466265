"""nginx as the benchmark's HTTP/2 TLS sinks, so the sink is never the bottleneck.

A Python sink shares the interpreter's limits with the client it measures;
nginx answers a request in a few microseconds of C. One nginx instance
serves three loopback ports, each a TLS listener speaking HTTP/2 and
HTTP/1.1 (chosen by ALPN):

- ``apns``: ``POST /3/device/<token>`` → 200, empty body, the request's
  ``apns-id`` echoed (docs/protocols/apns.md §5);
- ``apns410``: the same, except tokens whose first hex digit is 0-7 (half
  of random tokens) → 410 ``{"reason":"Unregistered","timestamp":…}``
  (docs/protocols/apns.md §5.2 and §6, the dead-token path);
- ``webpush``: ``POST /wpush/<id>`` → 201 with ``Location`` and ``TTL``
  (RFC 8030 §5).

Everything (config, throwaway CA and certificate, pid file, logs, temp
paths) lives in one temporary directory; nginx runs in the foreground
(``daemon off``) as a child of the harness and is stopped with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pushgate.simulators.tls import LocalCA

DEAD_FIRST_HEX = "01234567"  # tokens starting with one of these get 410 on the apns410 port
DEAD_TIMESTAMP_MS = 1_700_000_000_000  # fixed: before any registration the benchmark makes
SINKS = ("apns", "apns410", "webpush")


def nginx_binary() -> str | None:
    """The nginx executable (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def free_port() -> int:
    """A loopback port nothing listens on now (bound and released: a tiny race, fine on loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(prefix: Path, ports: dict[str, int], workers: int = 2, read_body: bool = True) -> str:
    """The nginx.conf for the three sinks; ``prefix`` holds certs, logs and temp paths.

    Why each knob: ``keepalive_requests`` governs HTTP/2 requests per
    connection since nginx 1.19.7 (a low value would make nginx GOAWAY the
    client mid-run); ``http2_max_concurrent_streams 1000`` is what APNs
    grants; ``access_log off`` keeps disk out of the measurement; the body
    buffer is large enough that no request body ever touches disk.
    """
    dead_body = f'{{"reason":"Unregistered","timestamp":{DEAD_TIMESTAMP_MS}}}'
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n    ".join(f"{kind}_temp_path {prefix}/tmp/{kind};" for kind in kinds)

    # `return` runs before nginx reads a request body; answering first would make it
    # reset every stream (RST_STREAM NO_ERROR) while the client still sends DATA.
    # `mirror_request_body on` makes nginx read the whole body first (the mirror
    # subrequest itself answers 204 internally); try_files then hands over to the
    # named location that answers.
    def server(port: int, location: str, answer: str) -> str:
        if not read_body:
            return f"""
    server {{
        listen 127.0.0.1:{port} ssl http2 backlog=4096;
        location {location} {{
            {answer}
        }}
        location / {{ return 404; }}
    }}"""
        return f"""
    server {{
        listen 127.0.0.1:{port} ssl http2 backlog=4096;
        location {location} {{
            mirror /_read_body;
            mirror_request_body on;
            try_files /.nothing @answer;
        }}
        location = /_read_body {{ internal; return 204; }}
        location @answer {{
            {answer}
        }}
        location / {{ return 404; }}
    }}"""

    apns = "add_header apns-id $http_apns_id always;\n            return 200;"
    apns410 = (
        "add_header apns-id $http_apns_id always;\n"
        f"            if ($apns_dead) {{ return 410 '{dead_body}'; }}\n            return 200;"
    )
    webpush = (
        f'add_header Location "https://127.0.0.1:{ports["webpush"]}/m/$request_id" always;\n'
        "            add_header TTL $http_ttl always;\n            return 201;"
    )
    return f"""# pushgate benchmark sinks (generated; throwaway)
daemon off;
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
    server_tokens off;  # "server: nginx" only; the fewer response header bytes, the closer to APNs
    default_type application/json;
    root {prefix}/www;
    {temp}
    client_body_buffer_size 64k;
    client_max_body_size 64k;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 1000;
    http2_recv_buffer_size 1m;
    ssl_certificate {prefix}/server.pem;
    ssl_certificate_key {prefix}/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:bench:1m;
    map $uri $apns_dead {{
        default 0;
        "~^/3/device/[{DEAD_FIRST_HEX}]" 1;
    }}
{server(ports["apns"], "~ ^/3/device/", apns)}
{server(ports["apns410"], "~ ^/3/device/", apns410)}
{server(ports["webpush"], "/wpush/", webpush)}
}}
"""


@dataclass
class NginxSinks:
    """A running nginx with the three sinks; use as a context manager."""

    workers: int = 2
    read_body: bool = True
    binary: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    prefix: Path | None = None
    ca_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    def version(self) -> str:
        binary = self.binary or nginx_binary() or "nginx"
        answer = subprocess.run([binary, "-v"], capture_output=True, text=True)
        return answer.stderr.strip().rsplit("/", 1)[-1]

    def url(self, sink: str) -> str:
        return f"https://127.0.0.1:{self.ports[sink]}"

    def start(self, timeout: float = 15.0) -> NginxSinks:
        binary = self.binary or nginx_binary()
        if binary is None:
            raise FileNotFoundError("nginx is not installed (python bench/run.py --install)")
        self.prefix = Path(tempfile.mkdtemp(prefix="pushgate-bench-nginx-"))
        # Workers drop root privileges: they must be able to enter the directory.
        self.prefix.chmod(0o755)
        (self.prefix / "tmp").mkdir()
        (self.prefix / "www").mkdir()
        ca = LocalCA.create(("127.0.0.1", "localhost"))
        (self.prefix / "server.pem").write_bytes(ca.server_cert_pem)
        (self.prefix / "server.key").write_bytes(ca.server_key_pem)
        self.ca_file = ca.write_ca(self.prefix / "ca.pem")
        self.ports = {name: free_port() for name in SINKS}
        conf = self.prefix / "nginx.conf"
        conf.write_text(render_config(self.prefix, self.ports, self.workers, self.read_body))
        log = (self.prefix / "stderr.log").open("wb")
        self.process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.prefix)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        waiting = set(self.ports.values())
        while waiting:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited at start-up: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nginx did not listen within {timeout} s: {self.log_tail()}")
            for port in list(waiting):
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        waiting.discard(port)
            time.sleep(0.05)
        return self

    def log_tail(self, chars: int = 2000) -> str:
        if self.prefix is None:
            return ""
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.prefix / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-chars:])
        return "\n".join(parts)

    def stop(self) -> None:
        """Graceful stop (SIGQUIT lets workers finish), then SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None
        if self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None

    def __enter__(self) -> NginxSinks:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
