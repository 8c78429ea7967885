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
import re
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

APPMESH_PREFIX = "/v20190125/"
TIMESTAMP_KEYS = {"createdAt", "lastUpdatedAt"}


# moto 5.2.5 builds a certificate's extensions from two templates only, RootCACertificate/V1
# and EndEntityCertificate/V1 (moto/acmpca/models.py, `_x509_extensions`): a subordinate CA
# issued with SubordinateCACertificate_PathLen<N>/V1 comes back with no extensions at all, so
# it is no CA. These are the extensions AWS documents for those templates
# (https://docs.aws.amazon.com/privateca/latest/userguide/template-definitions.html,
# "SubordinateCACertificate_PathLen0/V1" to "..._PathLen3/V1"): basicConstraints critical,
# CA:TRUE with the template's path length; keyUsage critical, digitalSignature, keyCertSign
# and cRLSign; the authority key identifier of the issuing CA; the subject key identifier of
# the request's key. The acceptance scenario of an intermediate under ACM Private CA checks
# them on what comes back.
SUBORDINATE_TEMPLATE = re.compile(r"^arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen([0-3])/V1$")


def with_subordinate_templates():
    from cryptography import x509
    from moto.acmpca import models

    moto_extensions = models.CertificateAuthority._x509_extensions

    def extensions(self, csr, template_arn):
        match = SUBORDINATE_TEMPLATE.match(template_arn or "")
        if not match:
            return moto_extensions(self, csr, template_arn)
        usage = x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        )
        return [
            (x509.BasicConstraints(ca=True, path_length=int(match.group(1))), True),
            (usage, True),
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False),
            (x509.SubjectKeyIdentifier.from_public_key(csr.public_key()), False),
        ]

    models.CertificateAuthority._x509_extensions = extensions


# moto 5.2.5 issues every certificate for 365 days and ignores IssueCertificate's Validity,
# which AWS requires and honours (API reference, IssueCertificate: "Validity ... the period of
# time during which the certificate will be valid"). A root made for 3650 days would end
# before the intermediates under it. This issues for the Validity asked, in DAYS (the unit
# meshtls sends); any other request keeps moto's 365 days.
def with_requested_validity():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from moto.acmpca import models, responses

    asked = threading.local()
    moto_issue = responses.ACMPCAResponse.issue_certificate

    def issue_certificate(self):
        validity = json.loads(self.body).get("Validity") or {}
        asked.days = validity.get("Value") if validity.get("Type") == "DAYS" else None
        try:
            return moto_issue(self)
        finally:
            asked.days = None

    moto_generate = models.CertificateAuthority.generate_cert

    def generate_cert(self, subject, public_key, extensions):
        days = getattr(asked, "days", None)
        if not days:
            return moto_generate(self, subject, public_key, extensions)
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = x509.CertificateBuilder(
            issuer_name=self.issuer,
            subject_name=subject,
            public_key=public_key,
            serial_number=x509.random_serial_number(),
            not_valid_before=now,
            not_valid_after=now + datetime.timedelta(days=int(days)),
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        return builder.sign(self.key, hashes.SHA512()).public_bytes(serialization.Encoding.PEM)

    responses.ACMPCAResponse.issue_certificate = issue_certificate
    models.CertificateAuthority.generate_cert = generate_cert


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
    with_subordinate_templates()
    with_requested_validity()
    app = FaultInjection(AppMeshWireFormat(DomainDispatcherApplication(create_backend_app)))
    run_simple(args.host, args.port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
