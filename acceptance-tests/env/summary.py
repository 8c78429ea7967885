"""Prints what meshtls made in a namespace: each TLS Secret's certificate and the issuers."""
import argparse
import base64
import subprocess
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapply import Cluster  # noqa: E402


def describe(pem):
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-enddate", "-ext", "subjectAltName,basicConstraints"],
        input=pem, capture_output=True, text=True,
    )
    return " ".join(line.strip() for line in out.stdout.splitlines() if line.strip() and not line.startswith("X509v3"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", required=True)
    args = ap.parse_args()
    cluster = Cluster(args.kubeconfig)
    secrets = cluster.request("GET", f"/api/v1/namespaces/{args.namespace}/secrets?labelSelector=app.kubernetes.io/managed-by%3Dmeshtls")
    for s in secrets.get("items", []):
        pem = base64.b64decode(s["data"]["tls.crt"]).decode()
        print(f"Secret {args.namespace}/{s['metadata']['name']} ({s['type']}): {describe(pem)}")
    issuers = cluster.request("GET", f"/apis/cert-manager.io/v1/namespaces/{args.namespace}/issuers")
    for i in issuers.get("items", []):
        print(f"Issuer {args.namespace}/{i['metadata']['name']} -> CA Secret {i['spec']['ca']['secretName']}")


if __name__ == "__main__":
    main()
