"""App Mesh API fixtures for acceptance scenarios, through boto3 (an AWS SDK) against moto.

  appmesh_fixture.py create MESH NODE HOSTNAME   mesh (if missing) and a node with one listener
  appmesh_fixture.py spec MESH NODE              the node's spec as JSON
  appmesh_fixture.py disable-tls MESH NODE       removes listener TLS out of band
  appmesh_fixture.py create-gateway MESH GATEWAY a virtual gateway made outside meshtls (mesh too, if missing)
  appmesh_fixture.py gateway-spec MESH GATEWAY   a virtual gateway's spec as JSON
  appmesh_fixture.py gateway-disable-tls MESH GATEWAY
                                                 sets the gateway's listener TLS to DISABLED out of band
"""
import json
import sys

import boto3

am = boto3.client("appmesh")


def without_nulls(v):
    if isinstance(v, dict):
        return {k: without_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [without_nulls(x) for x in v if x is not None]
    return v


def spec(mesh, node):
    return without_nulls(am.describe_virtual_node(meshName=mesh, virtualNodeName=node)["virtualNode"]["spec"])


def ensure_mesh(mesh):
    # moto's CreateMesh replaces a mesh of the same name (nodes and all), so look first.
    try:
        am.describe_mesh(meshName=mesh)
    except am.exceptions.NotFoundException:
        am.create_mesh(meshName=mesh)


def main():
    cmd, mesh, node = sys.argv[1:4]
    if cmd == "create":
        ensure_mesh(mesh)
        am.create_virtual_node(meshName=mesh, virtualNodeName=node, spec={
            "listeners": [{
                "portMapping": {"port": 5432, "protocol": "tcp"},
                "healthCheck": {"healthyThreshold": 2, "intervalMillis": 5000, "protocol": "tcp", "timeoutMillis": 2000, "unhealthyThreshold": 2},
            }],
            "serviceDiscovery": {"dns": {"hostname": sys.argv[4]}},
            "backends": [{"virtualService": {"virtualServiceName": "redis-server.yelb.svc.cluster.local"}}],
        })
    elif cmd == "create-gateway":
        ensure_mesh(mesh)
        am.create_virtual_gateway(meshName=mesh, virtualGatewayName=node, spec={
            "listeners": [{"portMapping": {"port": 80, "protocol": "http"}}],
        }, tags=[{"key": "team", "value": "platform"}])
    elif cmd == "gateway-spec":
        print(json.dumps(without_nulls(am.describe_virtual_gateway(meshName=mesh, virtualGatewayName=node)["virtualGateway"]["spec"]), sort_keys=True, default=str))
    elif cmd == "gateway-disable-tls":
        s = without_nulls(am.describe_virtual_gateway(meshName=mesh, virtualGatewayName=node)["virtualGateway"]["spec"])
        for listener in s.get("listeners", []):
            listener["tls"] = {"mode": "DISABLED", "certificate": listener.get("tls", {}).get("certificate")}
            listener["tls"] = without_nulls(listener["tls"])
        am.update_virtual_gateway(meshName=mesh, virtualGatewayName=node, spec=s)
    elif cmd == "spec":
        print(json.dumps(spec(mesh, node), sort_keys=True, default=str))
    elif cmd == "disable-tls":
        s = spec(mesh, node)
        for listener in s.get("listeners", []):
            listener.pop("tls", None)
        am.update_virtual_node(meshName=mesh, virtualNodeName=node, spec=s)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
