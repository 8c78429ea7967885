"""Writes istiod's injection configuration (`config` and `values`) from the istio-discovery
chart in the istio.io/istio module, as the chart's istio-sidecar-injector ConfigMap holds them.

istiod renders a Gateway API gateway's Deployment and Service from the `kube-gateway` template
in it; the environment runs istiod outside a pod, so it reads these files from its injection
directory instead of the ConfigMap.

    istio_inject.py CHART_DIR OUT_DIR
"""
import json
import os
import sys

import yaml


def main():
    chart, out = sys.argv[1], sys.argv[2]
    with open(os.path.join(chart, "values.yaml")) as f:
        defaults = yaml.safe_load(f)["_internal_defaults_do_not_set"]
    # The same fields the chart's ConfigMap picks, to keep the file small.
    values = {k: defaults[k] for k in ("global", "sidecarInjectorWebhook", "revision") if k in defaults}
    values["pilot"] = {k: defaults[k] for k in ("cni", "env") if k in defaults}
    gateways = defaults.get("gateways", {})
    values["gateways"] = {k: gateways.get(k) for k in ("securityContext", "seccompProfile")}

    def template(name):
        with open(os.path.join(chart, "files", name)) as f:
            return f.read().strip() + "\n"

    webhook = defaults.get("sidecarInjectorWebhook", {})
    config = {
        "defaultTemplates": webhook.get("defaultTemplates") or ["sidecar"],
        "policy": defaults["global"]["proxy"]["autoInject"],
        "alwaysInjectSelector": webhook.get("alwaysInjectSelector") or [],
        "neverInjectSelector": webhook.get("neverInjectSelector") or [],
        "injectedAnnotations": webhook.get("injectedAnnotations") or {},
        "templates": {
            "sidecar": template("injection-template.yaml"),
            "gateway": template("gateway-injection-template.yaml"),
            "kube-gateway": template("kube-gateway.yaml"),
        },
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "values"), "w") as f:
        json.dump(values, f, indent=2)
    with open(os.path.join(out, "config"), "w") as f:
        yaml.safe_dump(config, f, default_flow_style=False, width=1 << 20)


if __name__ == "__main__":
    main()
