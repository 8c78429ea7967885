"""Prints what meshtls made in a namespace, read from the cluster and the mesh themselves.

On App Mesh (--mesh): each virtual node's and gateway's TLS mode on the cluster object and in
the App Mesh API. On Istio (--istio): each service's mutual-TLS mode as istiod holds it, the
gateway as istiod reports on it, and a workload certificate istiod issued, checked against the
CA. Then, for both: the load balancer Service, each certificate's names and expiry, and a real
mutual-TLS handshake between two issued certificates."""
import argparse
import base64
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import json
import urllib.request

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


def istio_modes(cluster, namespace, istiod):
    """Each Service's mTLS mode as istiod holds its PeerAuthentications and DestinationRules."""
    with urllib.request.urlopen(istiod + "/debug/configz", timeout=30) as resp:
        configs = json.loads(resp.read())
    policies = [c for c in configs if c["kind"] == "PeerAuthentication" and c["metadata"]["namespace"] == namespace]
    rules = {c["spec"].get("host"): c for c in configs if c["kind"] == "DestinationRule" and c["metadata"]["namespace"] == namespace}
    print("TLS mode as istiod holds it (PeerAuthentication / DestinationRule):")
    wide = next((p for p in policies if not p["spec"].get("selector")), None)
    if wide:
        print(f"  namespace {namespace:22} {wide['spec'].get('mtls', {}).get('mode', 'UNSET'):10} (PeerAuthentication {wide['metadata']['name']})")
    services = cluster.request("GET", f"/api/v1/namespaces/{namespace}/services").get("items", [])
    for svc in services:
        selector = svc["spec"].get("selector") or {}
        if not selector:
            continue
        own = [p for p in policies if p["spec"].get("selector") and all(selector.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())]
        policy = own[0] if own else wide
        mode = policy["spec"].get("mtls", {}).get("mode", "UNSET") if policy else "PERMISSIVE (Istio's default)"
        host = f"{svc['metadata']['name']}.{namespace}.svc.cluster.local"
        rule = rules.get(host)
        client = rule["spec"].get("trafficPolicy", {}).get("tls", {}).get("mode", "-") if rule else "auto"
        source = f"PeerAuthentication {policy['metadata']['name']}" if policy else "no policy"
        print(f"  service   {svc['metadata']['name']:22} {mode:10} / callers {client:13} ({source})")
    print()


def istio_gateways(cluster, namespace):
    gateways = cluster.request("GET", f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/gateways").get("items", [])
    for g in gateways:
        status = g.get("status", {})
        conditions = " ".join(f"{c['type']}={c['status']}" for c in status.get("conditions", []))
        print(f"Gateway {namespace}/{g['metadata']['name']} (class {g['spec']['gatewayClassName']}): {conditions or 'not reported yet'}")
        for listener, spec in zip(status.get("listeners", []), g["spec"].get("listeners", [])):
            refs = ", ".join(r["name"] for r in (spec.get("tls") or {}).get("certificateRefs", []))
            lc = " ".join(f"{c['type']}={c['status']}" for c in listener.get("conditions", []))
            print(f"  listener {listener['name']} {spec['protocol']}:{spec['port']} certificate {refs}: {lc}; {listener.get('attachedRoutes', 0)} route(s)")
        deployment = f"{g['metadata']['name']}-istio"
        try:
            d = cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}")
            labels = d["spec"]["template"]["metadata"]["labels"]
            print(f"  istiod made Deployment {deployment} (pods app={labels.get('app')}) and Service {deployment}")
        except Exception as e:  # noqa: BLE001 - shown as is
            print(f"  no Deployment {deployment} from istiod yet ({e.__class__.__name__})")
    print()


def workload_certificate(path, ca_pem):
    with open(path) as f:
        chain = f.read()
    leaf = chain.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    print(f"Workload certificate from istiod: {describe(leaf)}")
    with tempfile.TemporaryDirectory() as d:
        for name, pem in (("ca.crt", ca_pem), ("leaf.crt", leaf)):
            with open(os.path.join(d, name), "w") as f:
                f.write(pem)
        out = subprocess.run(["openssl", "verify", "-CAfile", "ca.crt", "leaf.crt"], cwd=d, capture_output=True, text=True)
    print(f"  openssl verify against the meshtls CA: {out.stdout.strip() or out.stderr.strip()}")
    print()
    return out.returncode == 0


def load_balancers(cluster, namespace):
    services = cluster.request("GET", f"/api/v1/namespaces/{namespace}/services?labelSelector=app.kubernetes.io/managed-by%3Dmeshtls")
    for svc in services.get("items", []):
        if svc["spec"].get("type") != "LoadBalancer":
            continue
        ports = ", ".join(f"{p['port']}->{p.get('targetPort')}" for p in svc["spec"].get("ports", []))
        selector = ",".join(f"{k}={v}" for k, v in (svc["spec"].get("selector") or {}).items())
        print(f"Service {namespace}/{svc['metadata']['name']} (LoadBalancer, {ports}, selects {selector}):")
        for k, v in sorted((svc["metadata"].get("annotations") or {}).items()):
            if k.startswith("service.beta.kubernetes.io/"):
                print(f"  {k}: {v}")
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--handshake", help="SERVER_SECRET,CLIENT_SECRET,SERVER_NAME")
    ap.add_argument("--mesh", help="App Mesh mesh to compare the cluster objects with")
    ap.add_argument("--istio", help="istiod's debug HTTP address, to show what it holds")
    ap.add_argument("--workload-cert", help="a certificate chain istiod issued, to check against CA_SECRET")
    ap.add_argument("--ca-secret", default="ca-key-pair", help="the CA Secret in the namespace")
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
    if args.istio:
        istio_modes(cluster, args.namespace, args.istio)
        istio_gateways(cluster, args.namespace)
    if args.workload_cert:
        ca = cluster.request("GET", f"/api/v1/namespaces/{args.namespace}/secrets/{args.ca_secret}")
        if not workload_certificate(args.workload_cert, base64.b64decode(ca["data"]["ca.crt"]).decode()):
            sys.exit(1)
    load_balancers(cluster, args.namespace)
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
