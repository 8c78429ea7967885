"""Applies YAML manifests to a cluster with server-side apply, using only a kubeconfig.

The acceptance environment has no kubectl; this covers what it needs: client-certificate or
token auth from the kubeconfig's current context, and waiting for CRDs to be Established.
"""
import argparse
import base64
import json
import ssl
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml


def load_kubeconfig(path):
    with open(path) as f:
        kc = yaml.safe_load(f)
    ctx_name = kc["current-context"]
    ctx = next(c["context"] for c in kc["contexts"] if c["name"] == ctx_name)
    cluster = next(c["cluster"] for c in kc["clusters"] if c["name"] == ctx["cluster"])
    user = next(u["user"] for u in kc["users"] if u["name"] == ctx["user"])

    def material(d, file_key, data_key):
        if d.get(data_key):
            tmp = tempfile.NamedTemporaryFile(delete=False)
            tmp.write(base64.b64decode(d[data_key]))
            tmp.close()
            return tmp.name
        return d.get(file_key)

    context = ssl.create_default_context(cafile=material(cluster, "certificate-authority", "certificate-authority-data"))
    if cluster.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    cert = material(user, "client-certificate", "client-certificate-data")
    if cert:
        context.load_cert_chain(cert, material(user, "client-key", "client-key-data"))
    headers = {}
    if user.get("token"):
        headers["Authorization"] = "Bearer " + user["token"]
    return cluster["server"].rstrip("/"), context, headers


class Cluster:
    def __init__(self, kubeconfig):
        self.server, self.context, self.headers = load_kubeconfig(kubeconfig)

    def request(self, method, path, body=None, content_type="application/json"):
        data = None if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method, headers={**self.headers, "Content-Type": content_type})
        with urllib.request.urlopen(req, context=self.context, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def path_for(self, obj):
        group_version = obj["apiVersion"]
        kind = obj["kind"]
        prefix = "/api/v1" if group_version == "v1" else "/apis/" + group_version
        resources = self.request("GET", prefix)["resources"]
        res = next(r for r in resources if r["kind"] == kind and "/" not in r["name"])
        ns = obj["metadata"].get("namespace")
        ns_part = f"/namespaces/{ns}" if res["namespaced"] else ""
        return f"{prefix}{ns_part}/{res['name']}/{obj['metadata']['name']}"

    def apply(self, obj):
        path = self.path_for(obj) + "?fieldManager=meshtls-acceptance&force=true"
        return self.request("PATCH", path, json.dumps(obj), "application/apply-patch+yaml")


def wait_established(cluster, name, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        crd = cluster.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conds = crd.get("status", {}).get("conditions", [])
        if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
            return
        time.sleep(0.2)
    raise SystemExit(f"CRD {name} not Established within {seconds}s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--wait-crds", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    cluster = Cluster(args.kubeconfig)
    crds = []
    for path in args.files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
            objs = [o for d in docs for o in (d["items"] if d.get("kind") == "List" else [d])]
            for obj in objs:
                try:
                    cluster.apply(obj)
                except urllib.error.HTTPError as e:
                    sys.exit(f"{path}: {obj['kind']} {obj['metadata']['name']}: {e.code} {e.read().decode()[:500]}")
                if obj["kind"] == "CustomResourceDefinition":
                    crds.append(obj["metadata"]["name"])
    if args.wait_crds:
        for name in crds:
            wait_established(cluster, name)


if __name__ == "__main__":
    main()
