"""Prints what meshtls made in a namespace, read from the cluster and the App Mesh API
themselves: each virtual node's and gateway's TLS mode on both sides, each certificate's names
and expiry, then a real mutual-TLS handshake between two issued certificates."""
import argparse
import base64
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kubeapply import Cluster  # noqa: E402


def describe(pem):
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-subject", "-enddate", "-ext", "subjectAltName,basicConstraints"],
        input=pem, capture_output=True, text=True,
    )
    return " ".join(line.strip() for line in out.stdout.splitlines() if line.strip() and not line.startswith("X509v3"))


def write_identity(directory, secret):
    paths = {}
    for key in ("ca.crt", "tls.crt", "tls.key"):
        path = os.path.join(directory, secret["metadata"]["name"] + "-" + key)
        with open(path, "wb") as f:
            f.write(base64.b64decode(secret["data"][key]))
        os.chmod(path, 0o600)
        paths[key] = path
    return paths


def mutual_tls(server, client, server_name):
    """Server requires a client certificate from the CA; client checks the server's name."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=server["ca.crt"])
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    server_ctx.load_cert_chain(server["tls.crt"], server["tls.key"])
    client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=client["ca.crt"])
    client_ctx.load_cert_chain(client["tls.crt"], client["tls.key"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = {}

    def serve():
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["client"] = dict(x[0] for x in tls.getpeercert()["subject"])["commonName"]
                tls.sendall(tls.recv(4))
        except ssl.SSLError as e:
            seen["error"] = str(e)

    t = threading.Thread(target=serve)
    t.start()
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with client_ctx.wrap_socket(raw, server_hostname=server_name) as tls:
            tls.sendall(b"ping")
            echoed = tls.recv(4)
            version = tls.version()
    t.join(10)
    listener.close()
    return echoed == b"ping", seen.get("client"), version


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--handshake", help="SERVER_SECRET,CLIENT_SECRET,SERVER_NAME")
    ap.add_argument("--mesh", help="App Mesh mesh to compare the cluster objects with")
    args = ap.parse_args()
    cluster = Cluster(args.kubeconfig)
    if args.mesh:
        import boto3

        am = boto3.client("appmesh")
        print("TLS mode (cluster object / App Mesh API):")
        for kind, plural in (("VirtualNode", "virtualnodes"), ("VirtualGateway", "virtualgateways")):
            objs = cluster.request("GET", f"/apis/appmesh.k8s.aws/v1beta2/namespaces/{args.namespace}/{plural}")
            for o in objs.get("items", []):
                spec = o["spec"]
                k8s_mode = (spec.get("listeners") or [{}])[0].get("tls", {}).get("mode", "none")
                try:
                    if kind == "VirtualNode":
                        api = am.describe_virtual_node(meshName=args.mesh, virtualNodeName=spec["awsName"])["virtualNode"]["spec"]
                    else:
                        api = am.describe_virtual_gateway(meshName=args.mesh, virtualGatewayName=spec["awsName"])["virtualGateway"]["spec"]
                    api_mode = ((api.get("listeners") or [{}])[0].get("tls") or {}).get("mode", "none")
                except Exception as e:  # noqa: BLE001 - shown to the user as is
                    api_mode = f"unreadable ({e.__class__.__name__})"
                print(f"  {kind:14} {o['metadata']['name']:16} {k8s_mode:8} / {api_mode}")
        print()
    secrets = cluster.request("GET", f"/api/v1/namespaces/{args.namespace}/secrets?labelSelector=app.kubernetes.io/managed-by%3Dmeshtls")
    for s in secrets.get("items", []):
        pem = base64.b64decode(s["data"]["tls.crt"]).decode()
        print(f"Secret {args.namespace}/{s['metadata']['name']} ({s['type']}): {describe(pem)}")
    issuers = cluster.request("GET", f"/apis/cert-manager.io/v1/namespaces/{args.namespace}/issuers")
    for i in issuers.get("items", []):
        print(f"Issuer {args.namespace}/{i['metadata']['name']} -> CA Secret {i['spec']['ca']['secretName']}")
    if args.handshake:
        server_secret, client_secret, server_name = args.handshake.split(",")
        by_name = {s["metadata"]["name"]: s for s in secrets.get("items", [])}
        with tempfile.TemporaryDirectory() as d:
            server = write_identity(d, by_name[server_secret])
            client = write_identity(d, by_name[client_secret])
            ok, client_cn, version = mutual_tls(server, client, server_name)
        result = "succeeded" if ok else "FAILED"
        print(f"Mutual TLS {client_secret} -> {server_secret} ({server_name}): {result} over {version}; server verified client {client_cn!r}")
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
