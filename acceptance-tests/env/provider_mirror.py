#!/usr/bin/env python3
"""A provider network mirror over HTTPS on loopback, made from `make release`'s archives.

    provider_mirror.py DIST_DIR STATE_DIR

Lays out the Provider Network Mirror Protocol under STATE_DIR/www
(`registry.terraform.io/meshtls/meshtls/index.json` and `<version>.json`, with each archive's
`h1:` hash, and the archives beside them), makes a CA and a server certificate for 127.0.0.1
(STATE_DIR/ca.pem, for the CLI's SSL_CERT_FILE), serves on a free port and writes that port
to STATE_DIR/port once it listens. A SIGHUP rebuilds the JSON from DIST_DIR, so a test can
swap an archive and have the mirror vouch for the new one.
"""
import http.server
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".ci"))
from release import h1  # noqa: E402

ADDRESS = "registry.terraform.io/meshtls/meshtls"
ARCHIVE = re.compile(r"^terraform-provider-meshtls_(?P<version>[^_]+)_(?P<platform>[a-z0-9]+_[a-z0-9]+)\.zip$")


def build(dist, www):
    """index.json and one <version>.json per version, from the archives in `dist`."""
    here = os.path.join(www, ADDRESS)
    shutil.rmtree(www, ignore_errors=True)
    os.makedirs(here)
    versions = {}
    for name in sorted(os.listdir(dist)):
        m = ARCHIVE.match(name)
        if not m:
            continue
        with open(os.path.join(dist, name), "rb") as f:
            data = f.read()
        with open(os.path.join(here, name), "wb") as f:
            f.write(data)
        versions.setdefault(m["version"], {})[m["platform"]] = {"url": name, "hashes": [h1(data)]}
    with open(os.path.join(here, "index.json"), "w") as f:
        json.dump({"versions": {v: {} for v in versions}}, f)
    for v, archives in versions.items():
        with open(os.path.join(here, f"{v}.json"), "w") as f:
            json.dump({"archives": archives}, f)


def certificates(state):
    """A CA, and a certificate for 127.0.0.1 signed by it."""
    ca_key, ca, key, csr, cert = (os.path.join(state, n) for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca,
        "-days", "2", "-subj", "/CN=meshtls test mirror CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = os.path.join(state, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return cert, key


def main():
    dist, state = sys.argv[1], sys.argv[2]
    os.makedirs(state, exist_ok=True)
    www = os.path.join(state, "www")
    build(dist, www)
    signal.signal(signal.SIGHUP, lambda *_: build(dist, www))
    cert, key = certificates(state)
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=www, **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with open(os.path.join(state, "port.partial"), "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(os.path.join(state, "port.partial"), os.path.join(state, "port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
