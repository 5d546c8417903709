"""Schema and consistency checks of deploy/k8s/ without a cluster.

`kubectl --dry-run=client` needs an API server even for client-side validation, and kubeconform
is not packaged, so every object is checked against the Kubernetes OpenAPI models that Debian's
python3-kubernetes ships (field names, types, required fields; unknown fields are errors), then
for what this service needs (probes, replicas, non-root, read-only root file system, resources,
names and selectors that fit together, configuration variables the service knows). When a
kubectl is on PATH, `kubectl kustomize` must also render the directory.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

k8s = pytest.importorskip("kubernetes.client", reason="python3-kubernetes is not installed")

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"

# (apiVersion, kind) -> model. autoscaling/v2 has the same schema as v2beta2 for every field
# used here; python3-kubernetes 22 predates the v2 models.
MODELS = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2beta2HorizontalPodAutoscaler",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
}


def check(value, typ, path, errors):
    """Appends to errors every place where value does not fit the OpenAPI type typ."""
    if value is None:
        return
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list")
            return
        for i, v in enumerate(value):
            check(v, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map")
            return
        for k, v in value.items():
            check(v, m.group(1), f"{path}.{k}", errors)
        return
    simple = {"str": str, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if typ == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer, got {value!r}")
        return
    if typ in simple:
        if not isinstance(value, simple[typ]) or (typ == "str" and isinstance(value, bool)):
            errors.append(f"{path}: expected {typ}, got {value!r}")
        return
    if typ == "object":  # IntOrString, quantities, raw extensions
        return
    klass = getattr(k8s, typ)
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({typ})")
        return
    by_json = {j: a for a, j in klass.attribute_map.items()}
    present = {}
    for key, v in value.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: unknown field of {typ}")
            continue
        attr = by_json[key]
        check(v, klass.openapi_types[attr], f"{path}.{key}", errors)
        present[attr] = v
    try:  # the models' constructors reject missing required fields and bad enum values
        klass(**present)
    except (ValueError, TypeError) as e:
        errors.append(f"{path}: {e}")


def documents():
    docs = []
    for f in sorted(K8S.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                docs.append((f.name, d))
    return docs


def by_kind(kind):
    found = [d for _, d in documents() if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}"
    return found[0]


def test_every_object_fits_the_kubernetes_schema():
    errors = []
    for name, d in documents():
        model = MODELS.get((d.get("apiVersion"), d.get("kind")))
        assert model, f"{name}: unexpected {d.get('apiVersion')} {d.get('kind')}"
        check(d, model, f"{name}:{d['kind']}", errors)
    assert not errors, "\n".join(errors)


def test_the_checker_catches_mistakes():
    errors = []
    bad = by_kind("Deployment")
    bad = yaml.safe_load(yaml.safe_dump(bad))
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    bad["spec"]["replicas"] = "3"
    del bad["spec"]["selector"]
    check(bad, "V1Deployment", "bad", errors)
    text = "\n".join(errors)
    assert "imagePullPolicyy: unknown field" in text
    assert "replicas: expected an integer" in text
    assert "selector" in text


def test_kustomization_lists_every_manifest_but_the_secret_template():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.template.yaml"}
    assert set(kust["resources"]) == files


def test_deployment_as_required():
    dep = by_kind("Deployment")
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    assert spec["replicas"] == 3
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (deploy/Dockerfile)
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for container in pod["containers"] + pod.get("initContainers", []):
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
    (init,) = pod["initContainers"]
    assert init["args"] == ["migrate"] and init["image"] == c["image"]
    port = c["ports"][0]["containerPort"]
    assert by_kind("ConfigMap")["data"]["CRM_LISTEN"].endswith(f":{port}")
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/tmp" in mounts  # the only writable path
    assert pod["terminationGracePeriodSeconds"] > 30  # the service drains for up to 30 s


def test_service_pdb_and_hpa_point_at_the_deployment():
    dep = by_kind("Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = by_kind("Service")
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"][0]["targetPort"] == dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"]
    pdb = by_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]
    hpa = by_kind("HorizontalPodAutoscaler")
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["kind"], ref["name"]) == ("Deployment", dep["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] == dep["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]


def test_configuration_names_only_variables_the_service_reads():
    known = set()
    for src in (REPO / "service").rglob("*.c"):
        known |= set(re.findall(r'"(CRM_[A-Z0-9_]+)"', src.read_text(errors="replace")))
    cm, secret = by_kind("ConfigMap"), by_kind("Secret")
    names = set(cm["data"]) | set(secret["stringData"])
    assert names <= known, f"unknown variables: {names - known}"
    assert {"CRM_DATABASE_URL", "CRM_JWT_SECRET"} <= set(secret["stringData"])
    assert not set(cm["data"]) & {"CRM_DATABASE_URL", "CRM_JWT_SECRET", "CRM_ADMIN_PASSWORD"}
    dep = by_kind("Deployment")
    refs = dep["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"configMapRef": {"name": cm["metadata"]["name"]}} in refs
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in refs


@pytest.mark.skipif(not shutil.which("kubectl"), reason="no kubectl")
def test_kubectl_kustomize_renders():
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(out.stdout) if d)
    assert kinds == sorted(["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"])
