"""The meshtls benchmark: N services, each one certificate and one virtual node's TLS, applied
several ways on the same machine in the same run:

  meshtls      meshtls_ca + meshtls_certificate + meshtls_virtual_node_tls (both sides)
  go-providers hashicorp/tls + hashicorp/kubernetes, as users combine them today
  floor        terraform_data resources, as many as meshtls manages: Terraform's own cost

and two other layouts of the meshtls and floor configurations (see LAYOUTS). Each runs with
OpenTofu; meshtls and the floor also with a current Terraform. For each: wall time of apply
from empty, of a no-op plan and of destroy (min, median and max of --runs), the provider
processes' peak RSS, the kube API and App Mesh requests a no-op plan makes, the CPU time of
every process, and the state the CLI keeps per resource instance.
Run through `make bench`, which starts the local environment first.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "acceptance-tests", "env"))
from kubeapply import Cluster  # noqa: E402

import report  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# The variants are the report's. VIA_LOCAL and PER_SERVICE lay the same two configurations
# out two other ways (docs/guides/large-meshes.md): the certificate values read once into a
# local map that the virtual nodes index, and one module instance per service, where each
# virtual node refers to the single certificate beside it. Both avoid indexing a `for_each`
# resource from each instance of another, which makes the CLI decode every instance of the
# first for each instance of the second. ISTIO is the Istio backend's shape.
from report import ALL_VARIANTS, ISTIO, ISTIO_MAP, MAP, PER_SERVICE, VARIANTS, VIA_LOCAL  # noqa: E402

LAYOUTS = {"index": VARIANTS, "local": VIA_LOCAL, "module": PER_SERVICE, "istio": ISTIO, "map": MAP, "istio-map": ISTIO_MAP}
# The CLIs: OpenTofu for every variant, the current Terraform for all but go-providers.
CLIS = {"tofu": "TOFU", "terraform": "TERRAFORM_CURRENT"}
CLI_VARIANTS = {"tofu": ALL_VARIANTS, "terraform": tuple(v for v in ALL_VARIANTS if v != "go-providers")}
CA_NS = "bench-ca"
MESH_SERVICE_MODULE = os.path.join(REPO, "examples", "modules", "mesh-service")


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run through `make bench`")
    return value


# ---------------------------------------------------------------- configurations


def provider_block(mesh):
    return f'''terraform {{
  required_providers {{
    meshtls = {{ source = "registry.terraform.io/meshtls/meshtls" }}
  }}
}}

provider "meshtls" {{
  mesh_name = "{mesh}"
  kubernetes {{
    config_path = "{env("KUBECONFIG")}"
  }}
  aws {{
    region = "{env("AWS_REGION")}"
    endpoints {{
      appmesh = "{env("AWS_ENDPOINT_URL")}"
    }}
  }}
}}
'''


def services(n):
    """The services' names as HCL. `range` makes at most 1024 values, so a larger N nests two;
    up to 1024 the text is what it always was."""
    if n <= 1024:
        return f'toset([for i in range({n}) : "svc-${{i}}"])'
    step = 1000
    return (f'toset(flatten([for a in range({-(-n // step)}) : '
            f'[for b in range({step}) : "svc-${{a * {step} + b}}" if a * {step} + b < {n}]]))')


def meshtls_config(n, ns, mesh, layout="index"):
    """The same services three ways; every layout configures the same TLS on both sides."""
    ca = f'''
resource "meshtls_ca" "mesh" {{
  namespace   = "{ns}"
  common_name = "Bench CA"
}}
'''
    # Every layout but the module one signs a certificate per service the same way.
    certificates = f'''
resource "meshtls_certificate" "svc" {{
  for_each    = local.services
  ca          = meshtls_ca.mesh.id
  namespace   = "{ns}"
  secret_name = "${{each.key}}-tls"
  dns_names   = ["${{each.key}}.{ns}.svc.cluster.local"]
}}
'''
    if layout in ("map", "istio-map"):
        return provider_block(mesh) + f'''
locals {{
  services = {services(n)}
}}
{ca}{certificate_map(ns)}{virtual_node_map(ns) if layout == "map" else istio_mtls_map(ns)}'''
    if layout == "istio":
        return provider_block(mesh) + f'''
locals {{
  services = {services(n)}
}}
{ca}{certificates}
resource "meshtls_istio_mtls" "svc" {{
  for_each   = local.services
  namespace  = "{ns}"
  deployment = each.key
  mode       = "STRICT"

  destination_rule {{
    host = "${{each.key}}.{ns}.svc.cluster.local"
  }}
}}
'''
    if layout == "module":
        return provider_block(mesh) + f'''
locals {{
  services = {services(n)}
}}
{ca}
module "svc" {{
  source   = "./mesh-service"
  for_each = local.services

  namespace    = "{ns}"
  ca_id        = meshtls_ca.mesh.id
  aws_name     = "${{each.key}}_{ns}"
  virtual_node = each.key
  deployment   = each.key
  hostname     = "${{each.key}}.{ns}.svc.cluster.local"
  mount_path   = "/etc/keys/${{each.key}}"
}}
'''
    if layout == "local":
        certificates_local = "\n  certificates = { for k, c in meshtls_certificate.svc : k => { secret_name = c.secret_name, fingerprint = c.fingerprint_sha256 } }"
        secret, fingerprint = "local.certificates[each.key].secret_name", "local.certificates[each.key].fingerprint"
    else:
        certificates_local = ""
        secret, fingerprint = "meshtls_certificate.svc[each.key].secret_name", "meshtls_certificate.svc[each.key].fingerprint_sha256"
    return provider_block(mesh) + f'''
locals {{
  services = {services(n)}{certificates_local}
}}
{ca}{certificates}
resource "meshtls_virtual_node_tls" "svc" {{
  for_each                = local.services
  virtual_node_name       = "${{each.key}}_{ns}"
  certificate_secret      = {secret}
  certificate_fingerprint = {fingerprint}
  mount_path              = "/etc/keys/${{each.key}}"

  kubernetes {{
    namespace    = "{ns}"
    virtual_node = each.key
    deployment   = each.key
  }}

  listener {{
    mode = "STRICT"
    certificate {{
      file {{
        certificate_chain = "/etc/keys/${{each.key}}/tls.crt"
        private_key       = "/etc/keys/${{each.key}}/tls.key"
      }}
    }}
  }}

  client_policy {{
    enforce = true
    trust {{
      file {{
        certificate_chain = "/etc/keys/${{each.key}}/ca.crt"
      }}
    }}
  }}
}}
'''


def certificate_map(ns):
    return f'''
resource "meshtls_certificate_map" "svc" {{
  certificates = {{
    for name in local.services : name => {{
      ca          = meshtls_ca.mesh.id
      namespace   = "{ns}"
      secret_name = "${{name}}-tls"
      dns_names   = ["${{name}}.{ns}.svc.cluster.local"]
    }}
  }}
}}
'''


def virtual_node_map(ns):
    """The virtual nodes' TLS as the other layouts set it, fed from the certificate map."""
    return f'''
resource "meshtls_virtual_node_tls_map" "svc" {{
  virtual_nodes = {{
    for name, cert in meshtls_certificate_map.svc.certificates : name => {{
      virtual_node_name       = "${{name}}_{ns}"
      certificate_secret      = cert.secret_name
      certificate_fingerprint = cert.fingerprint_sha256
      mount_path              = "/etc/keys/${{name}}"
      kubernetes = {{
        namespace    = "{ns}"
        virtual_node = name
        deployment   = name
      }}
      listener = {{
        mode = "STRICT"
        certificate = {{
          file = {{
            certificate_chain = "/etc/keys/${{name}}/tls.crt"
            private_key       = "/etc/keys/${{name}}/tls.key"
          }}
        }}
      }}
      client_policy = {{
        enforce = true
        trust = {{
          file = {{
            certificate_chain = "/etc/keys/${{name}}/ca.crt"
          }}
        }}
      }}
    }}
  }}
}}
'''


def istio_mtls_map(ns):
    return f'''
resource "meshtls_istio_mtls_map" "svc" {{
  services = {{
    for name in local.services : name => {{
      namespace  = "{ns}"
      deployment = name
      mode       = "STRICT"
      destination_rule = {{
        host = "${{name}}.{ns}.svc.cluster.local"
      }}
    }}
  }}
}}
'''


def go_providers_config(n, ns, _mesh):
    return f'''terraform {{
  required_providers {{
    tls        = {{ source = "registry.terraform.io/hashicorp/tls", version = "{GO_PROVIDER_VERSION}" }}
    kubernetes = {{ source = "registry.terraform.io/hashicorp/kubernetes", version = "{GO_PROVIDER_VERSION}" }}
  }}
}}

provider "kubernetes" {{
  config_path = "{env("KUBECONFIG")}"
}}

locals {{
  services = {services(n)}
}}

resource "tls_private_key" "ca" {{
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}}

resource "tls_self_signed_cert" "ca" {{
  private_key_pem       = tls_private_key.ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 87600
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature"]
  subject {{
    common_name = "Bench CA"
  }}
}}

resource "kubernetes_secret_v1" "ca" {{
  metadata {{
    name      = "ca-key-pair"
    namespace = "{ns}"
  }}
  type = "kubernetes.io/tls"
  data = {{
    "ca.crt"  = tls_self_signed_cert.ca.cert_pem
    "tls.crt" = tls_self_signed_cert.ca.cert_pem
    "tls.key" = tls_private_key.ca.private_key_pem
  }}
}}

resource "tls_private_key" "svc" {{
  for_each    = local.services
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}}

resource "tls_cert_request" "svc" {{
  for_each        = local.services
  private_key_pem = tls_private_key.svc[each.key].private_key_pem
  dns_names       = ["${{each.key}}.{ns}.svc.cluster.local"]
  subject {{
    common_name = "${{each.key}}.{ns}.svc.cluster.local"
  }}
}}

resource "tls_locally_signed_cert" "svc" {{
  for_each              = local.services
  cert_request_pem      = tls_cert_request.svc[each.key].cert_request_pem
  ca_private_key_pem    = tls_private_key.ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.ca.cert_pem
  validity_period_hours = 2160
  allowed_uses          = ["digital_signature", "key_encipherment", "server_auth", "client_auth"]
}}

resource "kubernetes_secret_v1" "svc" {{
  for_each = local.services
  metadata {{
    name      = "${{each.key}}-tls"
    namespace = "{ns}"
  }}
  type = "kubernetes.io/tls"
  data = {{
    "ca.crt"  = tls_self_signed_cert.ca.cert_pem
    "tls.crt" = tls_locally_signed_cert.svc[each.key].cert_pem
    "tls.key" = tls_private_key.svc[each.key].private_key_pem
  }}
}}

resource "kubernetes_annotations" "svc" {{
  for_each    = local.services
  api_version = "apps/v1"
  kind        = "Deployment"
  force       = true
  metadata {{
    name      = each.key
    namespace = "{ns}"
  }}
  template_annotations = {{
    "appmesh.k8s.aws/secretMounts" = "${{kubernetes_secret_v1.svc[each.key].metadata[0].name}}:/etc/keys/${{each.key}}"
  }}
}}

resource "kubernetes_manifest" "virtual_node" {{
  for_each = local.services
  manifest = {{
    apiVersion = "appmesh.k8s.aws/v1beta2"
    kind       = "VirtualNode"
    metadata = {{
      name      = each.key
      namespace = "{ns}"
    }}
    spec = {{
      awsName     = "${{each.key}}_{ns}"
      podSelector = {{ matchLabels = {{ app = each.key }} }}
      serviceDiscovery = {{ dns = {{ hostname = "${{each.key}}.{ns}.svc.cluster.local" }} }}
      listeners = [{{
        portMapping = {{ port = 8080, protocol = "http" }}
        tls = {{
          mode = "STRICT"
          certificate = {{
            file = {{
              certificateChain = "/etc/keys/${{each.key}}/tls.crt"
              privateKey       = "/etc/keys/${{each.key}}/tls.key"
            }}
          }}
        }}
      }}]
      backendDefaults = {{
        clientPolicy = {{
          tls = {{
            enforce    = true
            validation = {{ trust = {{ file = {{ certificateChain = "/etc/keys/${{each.key}}/ca.crt" }} }} }}
          }}
        }}
      }}
    }}
  }}
  field_manager {{
    force_conflicts = true
  }}
}}
'''


def floor_config(n, _ns, _mesh, layout="index"):
    """As many terraform_data objects as meshtls manages, referring to each other the same way."""
    if layout == "istio":
        return f'''locals {{
  services = {services(n)}
}}

resource "terraform_data" "ca" {{
  input = "Bench CA"
}}

resource "terraform_data" "certificate" {{
  for_each = local.services
  input    = "${{each.key}}-tls"
}}

resource "terraform_data" "policy" {{
  for_each = local.services
  input    = "${{each.key}}.STRICT"
}}
'''
    if layout in ("map", "istio-map"):
        # Three instances: the certificates as one map, and the second map fed from it by one
        # `for` (App Mesh), or beside it (Istio).
        second = "{ for k, c in terraform_data.certificates.output : k => c }" if layout == "map" else '{ for s in local.services : s => "${s}.STRICT" }'
        return f'''locals {{
  services = {services(n)}
}}

resource "terraform_data" "ca" {{
  input = "Bench CA"
}}

resource "terraform_data" "certificates" {{
  input = {{ for s in local.services : s => "${{s}}-tls" }}
}}

resource "terraform_data" "second" {{
  input = {second}
}}
'''
    if layout == "module":
        return f'''locals {{
  services = {services(n)}
}}

resource "terraform_data" "ca" {{
  input = "Bench CA"
}}

module "svc" {{
  source   = "./floor-service"
  for_each = local.services
  name     = each.key
}}
'''
    if layout == "local":
        outputs_local = "\n  outputs  = { for k, c in terraform_data.certificate : k => c.output }"
        input_ = "local.outputs[each.key]"
    else:
        outputs_local, input_ = "", "terraform_data.certificate[each.key].output"
    return f'''locals {{
  services = {services(n)}{outputs_local}
}}

resource "terraform_data" "ca" {{
  input = "Bench CA"
}}

resource "terraform_data" "certificate" {{
  for_each = local.services
  input    = "${{each.key}}-tls"
}}

resource "terraform_data" "virtual_node_tls" {{
  for_each = local.services
  input    = {input_}
}}
'''


FLOOR_SERVICE_MODULE = '''variable "name" {
  type = string
}

resource "terraform_data" "certificate" {
  input = "${var.name}-tls"
}

resource "terraform_data" "virtual_node_tls" {
  input = terraform_data.certificate.output
}
'''


def layout_of(variant):
    return next(layout for layout, names in LAYOUTS.items() if variant in names)


def write_config(variant, n, ns, mesh, workdir):
    """The variant's configuration, with the per-service module beside it where it has one."""
    layout = layout_of(variant)
    if variant == "go-providers":
        text = go_providers_config(n, ns, mesh)
    elif variant.startswith("meshtls"):
        text = meshtls_config(n, ns, mesh, layout)
        if layout == "module":
            shutil.copytree(MESH_SERVICE_MODULE, os.path.join(workdir, "mesh-service"), dirs_exist_ok=True)
    else:
        text = floor_config(n, ns, mesh, layout)
        if layout == "module":
            os.makedirs(os.path.join(workdir, "floor-service"), exist_ok=True)
            with open(os.path.join(workdir, "floor-service", "main.tf"), "w") as f:
                f.write(FLOOR_SERVICE_MODULE)
    with open(os.path.join(workdir, "main.tf"), "w") as f:
        f.write(text)


GO_PROVIDER_VERSION = "0.0.1"

# ---------------------------------------------------------------- fixtures


def fixtures(cluster, n, ns, mesh, meshtls):
    """The runbook's starting point: N Deployments and, for meshtls on App Mesh, N
    VirtualNodes (and the same nodes in App Mesh) without TLS. With the Go providers,
    kubernetes_manifest owns each whole VirtualNode (it refuses to adopt an existing one), TLS
    settings included. On Istio the Deployments are all there is to start from."""
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for i in range(n):
        svc = f"svc-{i}"
        if meshtls:
            cluster.apply({
                "apiVersion": "appmesh.k8s.aws/v1beta2", "kind": "VirtualNode",
                "metadata": {"name": svc, "namespace": ns},
                "spec": {
                    "awsName": f"{svc}_{ns}",
                    "podSelector": {"matchLabels": {"app": svc}},
                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                    "serviceDiscovery": {"dns": {"hostname": f"{svc}.{ns}.svc.cluster.local"}},
                },
            })
        cluster.apply({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": svc, "namespace": ns},
            "spec": {
                "selector": {"matchLabels": {"app": svc}},
                "template": {"metadata": {"labels": {"app": svc}}, "spec": {"containers": [{"name": "app", "image": "app:1"}]}},
            },
        })
    if meshtls:
        am = boto3.client("appmesh", endpoint_url=env("AWS_ENDPOINT_URL"), region_name=env("AWS_REGION"))
        existing = {m["meshName"] for m in am.list_meshes()["meshes"]}
        if mesh not in existing:
            am.create_mesh(meshName=mesh)
        nodes = {v["virtualNodeName"] for v in am.list_virtual_nodes(meshName=mesh, limit=100).get("virtualNodes", [])}
        token = None
        while True:
            page = am.list_virtual_nodes(meshName=mesh, **({"nextToken": token} if token else {}))
            nodes |= {v["virtualNodeName"] for v in page.get("virtualNodes", [])}
            token = page.get("nextToken")
            if not token:
                break
        for i in range(n):
            name = f"svc-{i}_{ns}"
            if name not in nodes:
                am.create_virtual_node(meshName=mesh, virtualNodeName=name, spec={
                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                    "serviceDiscovery": {"dns": {"hostname": f"svc-{i}.{ns}.svc.cluster.local"}},
                })


# ---------------------------------------------------------------- measuring


class RssWatcher:
    """Samples the peak RSS (VmHWM, which only grows) of the provider processes the measured
    CLI starts (its children: other providers on the machine are not counted); VmHWM makes
    a missed sample cost at most the growth since the last one."""

    def __init__(self):
        self.parents = set()  # the CLI processes whose provider children are measured
        self.peaks = {}  # pid -> (name, kB)
        self.cpu = {}  # pid -> CPU seconds, last sample
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
                    if not exe.startswith("terraform-provider-"):
                        continue
                    fields = proc_stat(pid)
                    if fields[1] not in self.parents:
                        continue
                    self.cpu[pid] = stat_cpu_seconds(fields)
                    with open(f"/proc/{pid}/status") as f:
                        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
                    self.peaks[pid] = (exe.split("_")[0], max(hwm, self.peaks.get(pid, ("", 0))[1]))
                except (OSError, StopIteration, ValueError):
                    continue
            self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def cpu_seconds(self):
        """CPU time of every provider process seen (up to the last sample before it exited)."""
        return sum(self.cpu.values())

    def peak_mib(self):
        """Per provider kind, its largest process; summed over kinds that run side by side."""
        by_name = {}
        for name, kb in self.peaks.values():
            by_name[name] = max(by_name.get(name, 0), kb)
        return sum(by_name.values()) / 1024 if by_name else None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """The fields of /proc/PID/stat after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def stat_cpu_seconds(fields):
    """utime + stime from the fields of /proc/PID/stat after the command name."""
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def backend_cpu():
    """CPU seconds used so far by each process of the environment (kube-apiserver, etcd, moto)."""
    usage = {}
    with open(os.path.join(env("MESHTLS_ENV_DIR"), "pids")) as f:
        for line in f:
            name, pid = line.split()
            try:
                usage[name] = stat_cpu_seconds(proc_stat(pid))
            except OSError:
                continue
    return usage


def cpu_split(cli_tree, providers, backends_before, backends_after):
    """Where one command's CPU time went: the CLI itself, its providers, each backend."""
    split = {"cli": max(cli_tree - providers, 0.0), "provider": providers}
    for name, after in backends_after.items():
        if name in ("kube-apiserver", "etcd", "moto"):
            split[name] = after - backends_before.get(name, 0.0)
    return split


def audit_lines():
    path = os.path.join(env("MESHTLS_ENV_DIR"), "audit.log")
    try:
        with open(path, "rb") as f:
            return [line for line in f]
    except FileNotFoundError:
        return []


def kube_requests_since(offset):
    count = 0
    for line in audit_lines()[offset:]:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("stage") == "ResponseComplete" and event.get("user", {}).get("username") == "meshtls-admin":
            count += 1
    return count


def appmesh_requests():
    with urllib.request.urlopen(env("AWS_ENDPOINT_URL") + "/_meshtls/requests") as r:
        return json.load(r)["appmesh"]


def run_cli(cli, workdir, *args, expect=(0,), rss=None):
    """Runs one CLI command; returns wall seconds, exit code and the CPU seconds of the CLI
    and every process it waited for (its providers)."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([env(CLIS[cli]), *args], cwd=workdir, stdout=out, stderr=err, text=True,
                                env={**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"})
        if rss is not None:
            rss.parents.add(str(proc.pid))
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - start
        if proc.returncode not in expect:
            out.seek(0)
            err.seek(0)
            sys.exit(f"{cli} {' '.join(args)} in {workdir} exited {proc.returncode}:\n{out.read()[-3000:]}\n{err.read()[-3000:]}")
    return elapsed, proc.returncode, usage.ru_utime + usage.ru_stime


def leaf_values(value):
    """How many primitive values (and nulls) a decoded state object holds: what the CLI
    builds one value for when it decodes the object."""
    if isinstance(value, dict):
        return sum(leaf_values(v) for v in value.values()) or 1
    if isinstance(value, list):
        return sum(leaf_values(v) for v in value) or 1
    return 1


def state_sizes(workdir):
    """Per resource type: instances, and the mean bytes and values of one instance's
    attributes as the state file stores them (compact JSON)."""
    with open(os.path.join(workdir, "terraform.tfstate")) as f:
        state = json.load(f)
    sizes = {}
    for resource in state.get("resources", []):
        if resource.get("mode") != "managed":
            continue
        entry = sizes.setdefault(resource["type"], {"instances": 0, "bytes": 0, "values": 0})
        for instance in resource.get("instances", []):
            attributes = instance.get("attributes", {})
            entry["instances"] += 1
            entry["bytes"] += len(json.dumps(attributes, separators=(",", ":")))
            entry["values"] += leaf_values(attributes)
    return {t: {"instances": e["instances"], "bytes_per_instance": round(e["bytes"] / e["instances"]), "values_per_instance": round(e["values"] / e["instances"])}
            for t, e in sorted(sizes.items()) if e["instances"]}


def measure(variant, cli, n, todo, root, cluster, record):
    """Runs the cell `todo` times; each run goes to `record` the moment it ends, so an
    interruption loses at most the run in progress."""
    ns = f"bench-{variant}-{cli}-{n}"
    mesh = ns  # one mesh per variant, CLI and size, like the namespace
    workdir = os.path.join(root, f"{variant}-{cli}-{n}")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir, exist_ok=True)
    write_config(variant, n, ns, mesh, workdir)
    run_cli(cli, workdir, "init", "-input=false")
    for run in range(todo):
        if not variant.startswith("floor"):
            fixtures(cluster, n, ns, mesh, meshtls=variant.startswith("meshtls") and not layout_of(variant).startswith("istio"))
        with RssWatcher() as rss:
            before = backend_cpu()
            apply, _, apply_tree = run_cli(cli, workdir, "apply", "-auto-approve", "-input=false", rss=rss)
            apply_cpu = cpu_split(apply_tree, rss.cpu_seconds(), before, backend_cpu())
        state = state_sizes(workdir)
        with RssWatcher() as plan_rss:
            audit_offset, appmesh_before, before = len(audit_lines()), appmesh_requests(), backend_cpu()
            plan, code, plan_tree = run_cli(cli, workdir, "plan", "-input=false", "-detailed-exitcode", expect=(0, 2), rss=plan_rss)
            plan_cpu = cpu_split(plan_tree, plan_rss.cpu_seconds(), before, backend_cpu())
            if code == 2:
                sys.exit(f"{variant} with {cli}, N={n}: the plan after apply is not empty")
            kube, appmesh = kube_requests_since(audit_offset), appmesh_requests() - appmesh_before
        with RssWatcher() as destroy_rss:
            destroy, _, _ = run_cli(cli, workdir, "destroy", "-auto-approve", "-input=false", rss=destroy_rss)
        peak = max((w.peak_mib() for w in (rss, plan_rss, destroy_rss) if w.peak_mib() is not None), default=None)
        print(f"  {variant:17} {cli:9} N={n:4} run {run + 1}/{todo}: apply {apply:7.1f}s  plan {plan:6.1f}s  destroy {destroy:6.1f}s  "
              f"kube {kube:5}  appmesh {appmesh:5}  rss {peak or 0:6.1f} MiB", flush=True)
        print(f"    CPU s, apply: {cpu_text(apply_cpu)}; plan: {cpu_text(plan_cpu)}", flush=True)
        record({"apply": apply, "plan": plan, "destroy": destroy, "kube": kube, "appmesh": appmesh, "rss": peak,
                "apply_cpu": apply_cpu, "plan_cpu": plan_cpu, "state": state, "resources": report.resources(variant, n)})


# ---------------------------------------------------------------- report


def cpu_text(split):
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in split.items())



def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    return f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}"



# What the benchmark writes itself: committing results does not change what is measured.
RESULT_PATHS = (":!bench/results.jsonl", ":!docs/performance.md", ":!docs/performance.png")


def commit():
    """The commit measured: the newest that changed anything but the results, so committing
    results as they come does not restart the run; `-dirty` when the work tree differs from
    it, so such runs are never taken for the commit's own."""
    git = lambda *args: subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO).stdout.strip()  # noqa: E731
    head = git("log", "-1", "--format=%h", "--abbrev=12", "--", ".", *RESULT_PATHS)
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", *RESULT_PATHS)
    return f"{head}-dirty" if dirty else head


def cli_version(cli):
    return subprocess.run([env(CLIS[cli]), "version"], capture_output=True, text=True).stdout.splitlines()[0]


def append(path, entry):
    """One line per run, flushed to disk before the next run starts."""
    with open(path, "a") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50,500,2000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--large-runs", type=int, default=1, help="runs for N >= 200; one go-providers run at N=500 takes half an hour")
    ap.add_argument("--go-providers-sizes", default="50,500",
                    help="sizes the go-providers variant runs at: at N=2000 its apply alone would take hours")
    ap.add_argument("--variants", default=",".join(ALL_VARIANTS))
    ap.add_argument("--clis", default=",".join(CLIS), help="a subset of " + ", ".join(CLIS))
    ap.add_argument("--results", default=report.RESULTS, help="the results file runs are appended to")
    ap.add_argument("--redo", action="store_true", help="measure again the cells already recorded for this commit")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    go_sizes = {int(s) for s in args.go_providers_sizes.split(",") if s}
    variants = [v for v in args.variants.split(",") if v]
    clis = [c for c in args.clis.split(",") if c]
    unknown = set(variants) - set(ALL_VARIANTS) | set(clis) - set(CLIS)
    if unknown:
        sys.exit(f"unknown variants or CLIs {sorted(unknown)}; choose from {ALL_VARIANTS} and {tuple(CLIS)}")
    measured = commit()
    if measured.endswith("-dirty"):
        print(f"the work tree differs from its commit: these runs are recorded as {measured}", flush=True)
    done = {}
    for r in report.load(args.results):
        if r["commit"] == measured and not args.redo:
            key = (r["variant"], r["cli"], r["n"])
            done[key] = done.get(key, 0) + 1
    cluster = Cluster(env("KUBECONFIG"))
    root = tempfile.mkdtemp(prefix="meshtls-bench-")
    host = machine()
    started = time.monotonic()
    for n in sizes:
        for cli in clis:
            version = cli_version(cli)
            for variant in variants:
                if variant not in CLI_VARIANTS[cli] or (variant == "go-providers" and n not in go_sizes):
                    continue
                runs = args.large_runs if n >= 200 else args.runs
                todo = runs - done.get((variant, cli, n), 0)
                if todo <= 0:
                    print(f"{variant} with {cli}, N={n}: {runs} run(s) recorded for {measured} already", flush=True)
                    continue
                print(f"{variant} with {cli}, N={n} ({(time.monotonic() - started) / 60:.0f} min in)", flush=True)

                def record(result, variant=variant, cli=cli, n=n, version=version):
                    entry = {"commit": measured, "variant": variant, "cli": cli, "cli_version": version, "n": n, "machine": host,
                             "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
                    append(args.results, {**entry, **result})

                measure(variant, cli, n, todo, root, cluster, record)
    shutil.rmtree(root, ignore_errors=True)
    print(f"\nmeasured in {(time.monotonic() - started) / 60:.0f} minutes; results in {args.results}. "
          "`make bench-report` writes docs/performance.md from them.")


if __name__ == "__main__":
    main()
