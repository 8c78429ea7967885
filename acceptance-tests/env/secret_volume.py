"""Keeps a directory in step with a Secret the way the kubelet keeps a Secret volume.

A Helm-installed istiod has `cacerts` mounted at /etc/cacerts. The kubelet refreshes such a
volume atomically: each version of the Secret goes into a new hidden folder, a `..data`
symlink is swapped to it by rename, and every key is a symlink through `..data`. istiod
watches the folder with fsnotify and reloads on the swap. A Secret that disappears leaves the
last files in place, and a Secret missing at start leaves the folder empty (the chart mounts
it as optional). This does the same for a process outside a pod, polling instead of
watching, and appends one line per change to its log so a scenario can see what it did.

    secret_volume.py --kubeconfig K --namespace N --name S --dir D --log L
"""
import argparse
import base64
import os
import sys
import time
import urllib.error

from kubeapply import Cluster


def write_version(target, data, stamp):
    """Writes `data` as a new version folder and swaps `..data` to it, as the kubelet does."""
    version = os.path.join(target, f"..{stamp}")
    os.mkdir(version, 0o700)
    for key, value in data.items():
        path = os.path.join(version, key)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(value))
    tmp = os.path.join(target, "..data_tmp")
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(os.path.basename(version), tmp)
    old = os.readlink(os.path.join(target, "..data")) if os.path.lexists(os.path.join(target, "..data")) else None
    os.rename(tmp, os.path.join(target, "..data"))
    for key in data:
        link = os.path.join(target, key)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..data", key), link)
    for name in os.listdir(target):
        if not name.startswith("..") and name not in data:
            os.unlink(os.path.join(target, name))
    if old:
        for name in os.listdir(os.path.join(target, old)):
            os.unlink(os.path.join(target, old, name))
        os.rmdir(os.path.join(target, old))


def main():
    p = argparse.ArgumentParser()
    for flag in ("--kubeconfig", "--namespace", "--name", "--dir", "--log"):
        p.add_argument(flag, required=True)
    p.add_argument("--interval", type=float, default=0.3)
    args = p.parse_args()
    cluster = Cluster(args.kubeconfig)
    path = f"/api/v1/namespaces/{args.namespace}/secrets/{args.name}"
    os.makedirs(args.dir, mode=0o700, exist_ok=True)
    seen = None  # the data last written, or "missing"
    serial = 0
    with open(args.log, "a", buffering=1) as log:
        while True:
            try:
                secret = cluster.request("GET", path)
                data = secret.get("data") or {}
                if data != seen:
                    serial += 1
                    write_version(args.dir, data, f"{time.strftime('%Y_%m_%d_%H_%M_%S')}.{serial}")
                    log.write(f"wrote resourceVersion {secret['metadata']['resourceVersion']}: {' '.join(sorted(data))}\n")
                    seen = data
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    log.write(f"read failed: HTTP {e.code}\n")
                elif seen != "missing":
                    log.write("Secret missing: files kept\n")
                    seen = "missing"
            except OSError as e:
                log.write(f"read failed: {e}\n")
            time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
