"""moto's server, with App Mesh responses put into AWS's wire format.

moto answers App Mesh with timestamps as strings ("22/11/2026, 20:25:36") and absent fields
as JSON null; AWS sends epoch seconds and omits absent fields, and aws-sdk-rust rejects the
former. moto also reports a missing mesh or node as a 400 "VirtualNodeNotFound" (or
"MeshNotFound"); AWS answers 404 NotFoundException. This middleware fixes all three on the
way out. It belongs to the test environment only:
the provider talks to real AWS exactly as it talks to this.

Fault scenarios ask it, through POST /_meshtls/faults, to answer the next few App Mesh
updates of one mesh with an error AWS also sends (409 ConflictException when two writers
race, 429 TooManyRequestsException when throttled); GET /_meshtls/faults reports how many
were sent; with {"target": "ACMPrivateCA.<Action>", "count": N} it answers the next N calls
of that ACM Private CA action with a 400 InvalidRequestException instead, so a scenario can fail
one step of a longer operation; with "landed": true the action is carried out first and only
its answer is the error, as when an answer is lost after the request took effect. GET /_meshtls/requests counts the App Mesh requests served,
for the benchmark.
"""
import argparse
import datetime
import json
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

APPMESH_PREFIX = "/v20190125/"
TIMESTAMP_KEYS = {"createdAt", "lastUpdatedAt"}


def normalise(value):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            if k in TIMESTAMP_KEYS and isinstance(v, str):
                v = to_epoch(v)
            out[k] = normalise(v)
        return out
    if isinstance(value, list):
        return [normalise(v) for v in value if v is not None]
    return value


def to_epoch(text):
    for fmt in ("%d/%m/%Y, %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            dt = datetime.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.timezone.utc)
        return dt.timestamp()
    return text


def credential_of(authorization):
    """(access key id, service) of a SigV4 Authorization header, or None."""
    for part in authorization.replace(",", " ").split():
        if part.startswith("Credential="):
            scope = part[len("Credential="):].split("/")
            if len(scope) >= 4:
                return scope[0], scope[3]
    return None


class FaultInjection:
    """Answers App Mesh updates (PUT) of a chosen mesh, or its reads (GET), with injected errors."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.pending = {}  # mesh -> [status, error type, remaining, method]
        self.sent = {}  # mesh -> count
        self.targets = {}  # "ACMPrivateCA.<Action>" -> [calls to pass first, remaining, landed]
        self.appmesh_requests = 0
        self.access_keys = {}  # service -> {access key id: calls}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_meshtls/faults":
            return self.control(environ, start_response)
        if path == "/_meshtls/requests":
            with self.lock:
                body = json.dumps({"appmesh": self.appmesh_requests, "access_keys": self.access_keys}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path.startswith(APPMESH_PREFIX):
            with self.lock:
                self.appmesh_requests += 1
        # Who signed the call, by service: which credentials a client really used.
        signed = credential_of(environ.get("HTTP_AUTHORIZATION", ""))
        if signed:
            key, service = signed
            with self.lock:
                by_key = self.access_keys.setdefault(service, {})
                by_key[key] = by_key.get(key, 0) + 1
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        with self.lock:
            skip, remaining, landed = self.targets.get(target, [0, 0, False])
            inject = skip == 0 and remaining > 0
            if skip > 0:
                self.targets[target][0] -= 1
            elif inject:
                self.targets[target][1] -= 1
        if inject:
            if landed:
                # Carried out, its answer discarded.
                for _ in self.app(environ, lambda *args, **kwargs: (lambda data: None)):
                    pass
            body = json.dumps({"__type": "InvalidRequestException", "message": "injected by the test environment"}).encode()
            start_response("400 BAD REQUEST", [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", "InvalidRequestException"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("REQUEST_METHOD") in ("PUT", "GET") and path.startswith(APPMESH_PREFIX + "meshes/"):
            mesh = path[len(APPMESH_PREFIX + "meshes/"):].split("/", 1)[0]
            with self.lock:
                fault = self.pending.get(mesh)
                if fault and fault[2] > 0 and fault[3] == environ.get("REQUEST_METHOD"):
                    fault[2] -= 1
                    self.sent[mesh] = self.sent.get(mesh, 0) + 1
                else:
                    fault = None
            if fault:
                body = json.dumps({"message": "injected by the test environment"}).encode()
                start_response(fault[0], [("Content-Type", "application/json"), ("x-amzn-ErrorType", fault[1]), ("Content-Length", str(len(body)))])
                return [body]
        return self.app(environ, start_response)

    def control(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            req = json.loads(environ["wsgi.input"].read(size) or b"{}")
            if "target" in req:
                with self.lock:
                    self.targets[req["target"]] = [int(req.get("after", 0)), int(req["count"]), bool(req.get("landed", False))]
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
                return [b"{}"]
            status = {403: "403 FORBIDDEN", 409: "409 CONFLICT", 429: "429 TOO MANY REQUESTS"}[req.get("status", 409)]
            error = {403: "ForbiddenException", 409: "ConflictException", 429: "TooManyRequestsException"}[req.get("status", 409)]
            method = "GET" if req.get("reads") else "PUT"
            with self.lock:
                self.pending[req["mesh"]] = [status, error, int(req["count"]), method]
        with self.lock:
            body = json.dumps({"sent": self.sent, "pending": {m: f[2] for m, f in self.pending.items()}}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class AppMeshWireFormat:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(APPMESH_PREFIX):
            return self.app(environ, start_response)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        status, headers = captured["status"], captured["headers"]
        try:
            doc = normalise(json.loads(body))
            error_type = dict((k.lower(), v) for k, v in headers).get("x-amzn-errortype", "")
            if status.startswith("400") and error_type.endswith("NotFound"):
                status = "404 NOT FOUND"
                headers = [(k, "NotFoundException" if k.lower() == "x-amzn-errortype" else v) for k, v in headers]
                doc["__type"] = "NotFoundException"
            body = json.dumps(doc).encode()
        except ValueError:
            pass
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "status")]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    app = FaultInjection(AppMeshWireFormat(DomainDispatcherApplication(create_backend_app)))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
