"""The meshtls benchmark: N services, each one certificate and one virtual node's TLS, applied
three ways on the same machine in the same run:

  meshtls      meshtls_ca + meshtls_certificate + meshtls_virtual_node_tls (both sides)
  go-providers hashicorp/tls + hashicorp/kubernetes, as users combine them today
  floor        terraform_data resources, as many as meshtls manages: Terraform's own cost

For each: wall time of apply from empty, of a no-op plan and of destroy (median of --runs),
the provider processes' peak RSS, and the kube API and App Mesh requests a no-op plan makes.
Run through `make bench`, which starts the local environment first.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import boto3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "acceptance-tests", "env"))
from kubeapply import Cluster  # noqa: E402

VARIANTS = ("meshtls", "go-providers", "floor")
# The same two configurations passing certificate values to the virtual nodes through one
# local map instead of indexing the certificate resource in each instance (see
# docs/performance.md: the CLI re-decodes every instance of a referenced resource for each
# instance that indexes it).
VIA_LOCAL = ("meshtls-via-local", "floor-via-local")
ALL_VARIANTS = VARIANTS + VIA_LOCAL
CA_NS = "bench-ca"


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: run through `make bench`")
    return value


# ---------------------------------------------------------------- configurations


def meshtls_config(n, ns, mesh, via_local=False):
    if via_local:
        certificates_local = "\n  certificates = { for k, c in meshtls_certificate.svc : k => { secret_name = c.secret_name, fingerprint = c.fingerprint_sha256 } }"
        secret, fingerprint = "local.certificates[each.key].secret_name", "local.certificates[each.key].fingerprint"
    else:
        certificates_local = ""
        secret, fingerprint = "meshtls_certificate.svc[each.key].secret_name", "meshtls_certificate.svc[each.key].fingerprint_sha256"
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

locals {{
  services = toset([for i in range({n}) : "svc-${{i}}"]){certificates_local}
}}

resource "meshtls_ca" "mesh" {{
  namespace   = "{ns}"
  common_name = "Bench CA"
}}

resource "meshtls_certificate" "svc" {{
  for_each    = local.services
  ca          = meshtls_ca.mesh.id
  namespace   = "{ns}"
  secret_name = "${{each.key}}-tls"
  dns_names   = ["${{each.key}}.{ns}.svc.cluster.local"]
}}

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
  services = toset([for i in range({n}) : "svc-${{i}}"])
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
    }}
  }}
  field_manager {{
    force_conflicts = true
  }}
}}
'''


def floor_config(n, _ns, _mesh, via_local=False):
    if via_local:
        outputs_local = "\n  outputs  = { for k, c in terraform_data.certificate : k => c.output }"
        input_ = "local.outputs[each.key]"
    else:
        outputs_local, input_ = "", "terraform_data.certificate[each.key].output"
    return f'''locals {{
  services = toset([for i in range({n}) : "svc-${{i}}"]){outputs_local}
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


CONFIGS = {
    "meshtls": meshtls_config,
    "go-providers": go_providers_config,
    "floor": floor_config,
    "meshtls-via-local": lambda n, ns, mesh: meshtls_config(n, ns, mesh, via_local=True),
    "floor-via-local": lambda n, ns, mesh: floor_config(n, ns, mesh, via_local=True),
}
GO_PROVIDER_VERSION = "0.0.1"

# ---------------------------------------------------------------- fixtures


def fixtures(cluster, n, ns, mesh, meshtls):
    """The runbook's starting point: N Deployments and, for meshtls, N VirtualNodes (and the
    same nodes in App Mesh) without TLS. With the Go providers, kubernetes_manifest owns each
    whole VirtualNode (it refuses to adopt an existing one), TLS settings included."""
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


def tofu(workdir, *args, expect=(0,), rss=None):
    """Runs one CLI command; returns wall seconds, exit code and the CPU seconds of the CLI
    and every process it waited for (its providers)."""
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([env("TOFU"), *args], cwd=workdir, stdout=out, stderr=err, text=True,
                                env={**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"})
        if rss is not None:
            rss.parents.add(str(proc.pid))
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.monotonic() - start
        if proc.returncode not in expect:
            out.seek(0)
            err.seek(0)
            sys.exit(f"tofu {' '.join(args)} in {workdir} exited {proc.returncode}:\n{out.read()[-3000:]}\n{err.read()[-3000:]}")
    return elapsed, proc.returncode, usage.ru_utime + usage.ru_stime


def measure(variant, n, runs, root, cluster):
    ns = f"bench-{variant}-{n}"
    mesh = ns  # one mesh per variant and size, like the namespace
    workdir = os.path.join(root, f"{variant}-{n}")
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "main.tf"), "w") as f:
        f.write(CONFIGS[variant](n, ns, mesh))
    tofu(workdir, "init", "-input=false")
    samples = {"apply": [], "plan": [], "destroy": [], "kube": [], "appmesh": [], "rss": [], "apply_cpu": [], "plan_cpu": []}
    for run in range(runs):
        if not variant.startswith("floor"):
            fixtures(cluster, n, ns, mesh, meshtls=variant.startswith("meshtls"))
        with RssWatcher() as rss:
            before = backend_cpu()
            apply, _, apply_tree = tofu(workdir, "apply", "-auto-approve", "-input=false", rss=rss)
            apply_cpu = cpu_split(apply_tree, rss.cpu_seconds(), before, backend_cpu())
        with RssWatcher() as plan_rss:
            audit_offset, appmesh_before, before = len(audit_lines()), appmesh_requests(), backend_cpu()
            plan, code, plan_tree = tofu(workdir, "plan", "-input=false", "-detailed-exitcode", expect=(0, 2), rss=plan_rss)
            plan_cpu = cpu_split(plan_tree, plan_rss.cpu_seconds(), before, backend_cpu())
            if code == 2:
                sys.exit(f"{variant} N={n}: the plan after apply is not empty")
            kube, appmesh = kube_requests_since(audit_offset), appmesh_requests() - appmesh_before
        with RssWatcher() as destroy_rss:
            destroy, _, _ = tofu(workdir, "destroy", "-auto-approve", "-input=false", rss=destroy_rss)
        peak = max((w.peak_mib() for w in (rss, plan_rss, destroy_rss) if w.peak_mib() is not None), default=None)
        samples["apply"].append(apply)
        samples["plan"].append(plan)
        samples["destroy"].append(destroy)
        samples["kube"].append(kube)
        samples["appmesh"].append(appmesh)
        samples["rss"].append(peak)
        samples["apply_cpu"].append(apply_cpu)
        samples["plan_cpu"].append(plan_cpu)
        print(f"  {variant:13} N={n:4} run {run + 1}/{runs}: apply {apply:6.1f}s  plan {plan:6.1f}s  destroy {destroy:6.1f}s  "
              f"kube {kube:5}  appmesh {appmesh:5}  rss {peak or 0:6.1f} MiB", flush=True)
        print(f"    CPU s, apply: {cpu_text(apply_cpu)}; plan: {cpu_text(plan_cpu)}", flush=True)
    median = {k: statistics.median(v) for k, v in samples.items() if k not in ("rss", "apply_cpu", "plan_cpu")}
    for phase in ("apply_cpu", "plan_cpu"):
        median[phase] = {k: statistics.median(run[k] for run in samples[phase]) for k in samples[phase][0]}
    rss_values = [v for v in samples["rss"] if v is not None]
    median["rss"] = max(rss_values) if rss_values else None
    return median


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
    tofu_version = subprocess.run([env("TOFU"), "version"], capture_output=True, text=True).stdout.splitlines()[0]
    return f"{os.cpu_count()} CPUs ({cpu}), {mem_kb / 1024 / 1024:.0f} GiB, {platform.system()} {platform.release()}; {tofu_version}"


def fmt(value, unit=""):
    return "n/a" if value is None else f"{value:.1f}{unit}" if isinstance(value, float) else f"{value}{unit}"


def table(results, sizes):
    rows = ["| N | variant | apply (s) | no-op plan (s) | destroy (s) | provider peak RSS (MiB) | kube API requests / resource (plan) | App Mesh requests / resource (plan) |",
            "|---|---|---|---|---|---|---|---|"]
    for n in sizes:
        for variant in ALL_VARIANTS:
            r = results[(variant, n)]
            per = lambda x: f"{x / r['resources']:.2f}" if not variant.startswith("floor") else "0"  # noqa: E731
            rows.append(f"| {n} | {variant} | {r['apply']:.1f} | {r['plan']:.1f} | {r['destroy']:.1f} | {fmt(r['rss'])} | {per(r['kube'])} | {per(r['appmesh'])} |")
    return "\n".join(rows)


def cpu_table(results, sizes):
    """CPU seconds per process during apply and the no-op plan: where the time goes."""
    columns = ("cli", "provider", "kube-apiserver", "etcd", "moto")
    rows = ["| N | variant | phase | wall (s) | " + " | ".join(f"{c} CPU (s)" for c in columns) + " |",
            "|---|---|---|---|" + "---|" * len(columns)]
    for n in sizes:
        for variant in ALL_VARIANTS:
            r = results[(variant, n)]
            for phase in ("apply", "plan"):
                split = r[f"{phase}_cpu"]
                cells = " | ".join(fmt(split.get(c)) for c in columns)
                rows.append(f"| {n} | {variant} | {'no-op plan' if phase == 'plan' else phase} | {r[phase]:.1f} | {cells} |")
    return "\n".join(rows)


def ratios(results, sizes):
    rows = ["| N | | apply | no-op plan | destroy |", "|---|---|---|---|---|"]
    for n in sizes:
        a, b, c = (results[(v, n)] for v in VARIANTS)
        rows.append(f"| {n} | meshtls / go-providers (a/b) | {a['apply'] / b['apply']:.2f} | {a['plan'] / b['plan']:.2f} | {a['destroy'] / b['destroy']:.2f} |")
        rows.append(f"| {n} | meshtls / floor (a/c) | {a['apply'] / c['apply']:.2f} | {a['plan'] / c['plan']:.2f} | {a['destroy'] / c['destroy']:.2f} |")
        a, c = (results[(v, n)] for v in VIA_LOCAL)
        rows.append(f"| {n} | meshtls-via-local / floor-via-local | {a['apply'] / c['apply']:.2f} | {a['plan'] / c['plan']:.2f} | {a['destroy'] / c['destroy']:.2f} |")
    return "\n".join(rows)


def chart(results, sizes, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(6 * len(sizes), 4), squeeze=False)
    phases = ("apply", "plan", "destroy")
    colors = {"meshtls": "#2b7bb9", "go-providers": "#d9822b", "floor": "#8a8a8a"}
    for ax, n in zip(axes[0], sizes):
        width = 0.27
        for i, variant in enumerate(VARIANTS):
            values = [results[(variant, n)][p] for p in phases]
            ax.bar([x + (i - 1) * width for x in range(len(phases))], values, width, label=variant, color=colors[variant])
        ax.set_xticks(range(len(phases)), ["apply", "no-op plan", "destroy"])
        ax.set_ylabel("seconds (median)")
        ax.set_title(f"N = {n} services")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="50,500")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--large-runs", type=int, default=None, help="runs for N >= 200 (default: --runs); one go-providers run at N=500 takes minutes")
    ap.add_argument("--variants", default=",".join(ALL_VARIANTS), help="a subset, for profiling; the page needs all of them")
    ap.add_argument("--page", default="docs/performance.md")
    ap.add_argument("--chart", default="docs/performance.png")
    ap.add_argument("--results", default="target/bench/results.json")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(ALL_VARIANTS)
    if unknown:
        sys.exit(f"unknown variants {sorted(unknown)}; choose from {ALL_VARIANTS}")
    cluster = Cluster(env("KUBECONFIG"))
    root = tempfile.mkdtemp(prefix="meshtls-bench-")
    results = {}
    for n in sizes:
        for variant in variants:
            print(f"{variant} N={n}", flush=True)
            runs = args.large_runs if args.large_runs and n >= 200 else args.runs
            results[(variant, n)] = measure(variant, n, runs, root, cluster)
            results[(variant, n)]["runs"] = runs
            # Managed resources: meshtls and floor 2N+1, go-providers 6N+3.
            results[(variant, n)]["resources"] = 6 * n + 3 if variant == "go-providers" else 2 * n + 1
    shutil.rmtree(root, ignore_errors=True)
    if variants != list(ALL_VARIANTS):
        for (variant, n), r in results.items():
            print(f"{variant} N={n}: {r}")
        return

    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump({f"{v}/{n}": r for (v, n), r in results.items()}, f, indent=2)
    print()
    print(table(results, sizes))
    print()
    print(ratios(results, sizes))
    print()
    print(cpu_table(results, sizes))
    chart(results, sizes, args.chart)
    runs = sorted({(n, r["runs"]) for (_, n), r in results.items()})
    runs_text = ", ".join(f"N={n}: {r} run{'s' if r > 1 else ''}" for n, r in runs)
    block = f"Machine: {machine()}. Median of the runs ({runs_text}); peak RSS is the largest seen.\n\n{table(results, sizes)}\n\nRatios:\n\n{ratios(results, sizes)}\n\nCPU time by process (machine has {os.cpu_count()} CPUs):\n\n{cpu_table(results, sizes)}\n"
    write_results(args.page, block)
    print(f"\nwrote {args.chart} and the results in {args.page}")


def write_results(page, block):
    """Replaces the results between the page's markers, keeping the prose around them."""
    start, end = "<!-- bench:results -->", "<!-- /bench:results -->"
    text = open(page).read() if os.path.exists(page) else f"# Performance\n\n{start}\n{end}\n"
    if start not in text or end not in text:
        text += f"\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    with open(page, "w") as f:
        f.write(f"{head}{start}\n{block}{end}{tail}")

if __name__ == "__main__":
    main()
