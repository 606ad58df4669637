#!/usr/bin/env python3
"""deploy/kubernetes: both variants render and hold together. The SQLite one (deploy/kubernetes:
one replica, Recreate, the database on a volume claim) and the PostgreSQL one
(deploy/kubernetes/postgresql: three replicas on three nodes, a PodDisruptionBudget of two, no
volume claim, the password as a file from a Secret whose committed value is an empty
placeholder, an init container that migrates). For each: selectors match the pods, every mount
names a volume, every referenced ConfigMap/Secret/claim is rendered (or is the documented
out-of-band client secret), probes are /healthz and /readyz, the configuration passes
`vmlogind --check-config` and each *_file it names is a mounted file.

Kustomize is not a Debian package, so this renders with a small kustomize of its own (resources,
namespace, images, strategic-merge patches: maps merged, null removes, lists of named items
merged by name, $patch: delete); where kubectl is installed it also renders with
`kubectl kustomize` and requires the same objects. It ends by checking that broken renders
are reported. Usage: check_kubernetes.py VMLOGIND_BINARY DEPLOY_KUBERNETES_DIR"""
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

binary, root = sys.argv[1], os.path.abspath(sys.argv[2])
EXTERNAL_SECRETS = {"vmlogind-client-secret"}  # created out of band (README.md)


def merge(base, patch):
    """A strategic-merge patch, as far as these manifests use it."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
        return out
    named = (isinstance(base, list) and isinstance(patch, list) and
             all(isinstance(x, dict) and "name" in x for x in base + patch))
    if named:
        out = [copy.deepcopy(x) for x in base]
        for item in patch:
            idx = [i for i, x in enumerate(out) if x["name"] == item["name"]]
            if idx:
                out[idx[0]] = merge(out[idx[0]], item)
            else:
                out.insert(0, copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def ident(doc):
    return (doc["kind"], doc["metadata"]["name"])


def render(path):
    with open(os.path.join(path, "kustomization.yaml"), encoding="utf-8") as f:
        k = yaml.safe_load(f)
    docs = []
    for r in k.get("resources", []):
        p = os.path.join(path, r)
        if os.path.isdir(p):
            docs += render(p)
        else:
            with open(p, encoding="utf-8") as f:
                docs += [d for d in yaml.safe_load_all(f) if d]
    for patch in k.get("patches", []):
        with open(os.path.join(path, patch["path"]), encoding="utf-8") as f:
            pd = yaml.safe_load(f)
        i = [n for n, d in enumerate(docs) if ident(d) == ident(pd)][0]
        if pd.get("$patch") == "delete":
            del docs[i]
        else:
            docs[i] = merge(docs[i], pd)
    for d in docs:
        if "namespace" in k and d["kind"] != "Namespace":
            d["metadata"]["namespace"] = k["namespace"]
        for img in k.get("images", []):
            for c in pod_containers(d):
                if c.get("image", "").split(":")[0] == img["name"]:
                    c["image"] = f'{img.get("newName", img["name"])}:{img["newTag"]}'
    return docs


def pod_spec(d):
    return d.get("spec", {}).get("template", {}).get("spec", {}) if d["kind"] == "Deployment" \
        else {}


def pod_containers(d):
    s = pod_spec(d)
    return s.get("containers", []) + s.get("initContainers", [])


def kubectl(path):
    if shutil.which("kubectl") is None:
        return None
    out = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True)
    if out.returncode != 0:
        return [f"kubectl kustomize {path}: {out.stderr.strip()}"]
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def normal(docs):
    """Comparable: sorted by kind and name, lists of named items by name."""
    def norm(x):
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list) and all(isinstance(i, dict) and "name" in i for i in x):
            return sorted((norm(i) for i in x), key=lambda i: i["name"])
        return [norm(i) for i in x] if isinstance(x, list) else x
    return sorted((norm(d) for d in docs), key=ident)


def conf_of(docs):
    cm = [d for d in docs if ident(d) == ("ConfigMap", "vmlogind-config")][0]
    text = cm["data"]["vmlogind.conf"]
    conf = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z][a-z0-9_]*)\s*=\s*(.*?)\s*$", line)
        if m:
            conf[m.group(1)] = m.group(2)
    return text, conf


def file_mounted(path, container, volumes):
    """path is a file a volume of the pod puts under one of container's mounts."""
    for m in container.get("volumeMounts", []):
        if not path.startswith(m["mountPath"].rstrip("/") + "/"):
            continue
        rest = path[len(m["mountPath"].rstrip("/")) + 1:]
        v = volumes.get(m["name"], {})
        src = v.get("secret") or v.get("configMap")
        if src and any(i["path"] == rest for i in src.get("items", [])):
            return True
    return False


def check_common(docs, problems):
    names = {ident(d) for d in docs}
    dep = [d for d in docs if d["kind"] == "Deployment"][0]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    spec = pod_spec(dep)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    sel = dep["spec"]["selector"]["matchLabels"]
    if any(labels.get(k) != v for k, v in sel.items()):
        problems.append("the Deployment's selector does not match its pods")
    for d in docs:
        if d["kind"] == "Service" and any(labels.get(k) != v
                                          for k, v in d["spec"]["selector"].items()):
            problems.append(f"Service {d['metadata']['name']} selects no pod")
    for c in pod_containers(dep):
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                problems.append(f"container {c['name']} mounts {m['name']}, not a volume")
    for v in volumes.values():
        ref = (("ConfigMap", v["configMap"]["name"]) if "configMap" in v else
               ("Secret", v["secret"]["secretName"]) if "secret" in v else
               ("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"])
               if "persistentVolumeClaim" in v else None)
        if ref and ref not in names and ref[1] not in EXTERNAL_SECRETS:
            problems.append(f"volume {v['name']} refers to {ref[0]} {ref[1]}, not rendered")
    main = [c for c in spec["containers"] if c["name"] == "vmlogind"][0]
    if main.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        problems.append("readiness is not /readyz")
    if main.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        problems.append("liveness is not /healthz")
    if not spec.get("securityContext", {}).get("runAsNonRoot"):
        problems.append("the pod may run as root")
    text, conf = conf_of(docs)
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write(text)
        f.flush()
        out = subprocess.run([binary, "--config", f.name, "--check-config"],
                             capture_output=True, text=True)
    if out.returncode != 0:
        problems.append(f"vmlogind --check-config: {out.stderr.strip() or out.stdout.strip()}")
    for key, path in conf.items():
        if key.endswith("_file") and path and not file_mounted(path, main, volumes):
            problems.append(f"{key} = {path}: no mounted file there")
    return dep, spec, conf


def check_sqlite(docs):
    problems = []
    dep, spec, conf = check_common(docs, problems)
    if dep["spec"].get("replicas") != 1 or dep["spec"].get("strategy", {}).get("type") != \
            "Recreate":
        problems.append("SQLite: want one replica replaced with Recreate (one writer)")
    if conf.get("store_backend", "sqlite") != "sqlite":
        problems.append("SQLite: store_backend is not sqlite")
    if not any("persistentVolumeClaim" in v for v in spec.get("volumes", [])):
        problems.append("SQLite: the database has no volume claim")
    return problems


def check_postgresql(docs):
    problems = []
    dep, spec, conf = check_common(docs, problems)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    replicas = dep["spec"].get("replicas")
    if replicas != 3:
        problems.append(f"PostgreSQL: replicas is {replicas}, want 3")
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    if not pdbs or pdbs[0]["spec"].get("minAvailable") != 2 or \
            any(labels.get(k) != v for k, v in pdbs[0]["spec"]["selector"]["matchLabels"].items()):
        problems.append("PostgreSQL: no PodDisruptionBudget of minAvailable 2 over the pods")
    anti = spec.get("affinity", {}).get("podAntiAffinity", {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", [])
    if not any(t.get("topologyKey") == "kubernetes.io/hostname" and
               all(labels.get(k) == v for k, v in t["labelSelector"]["matchLabels"].items())
               for t in anti):
        problems.append("PostgreSQL: no anti-affinity keeping the replicas on distinct nodes")
    if dep["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge") != 0:
        problems.append("PostgreSQL: maxSurge must be 0 (one replica per node, three nodes)")
    if any(d["kind"] == "PersistentVolumeClaim" for d in docs) or \
            any("persistentVolumeClaim" in v for v in spec.get("volumes", [])):
        problems.append("PostgreSQL: a volume claim is left")
    if conf.get("store_backend") != "postgresql" or not conf.get("postgres_url"):
        problems.append("PostgreSQL: store_backend = postgresql and postgres_url are not set")
    if re.search(r"password|://[^/@]*:[^/@]*@", conf.get("postgres_url", ""), re.I):
        problems.append("PostgreSQL: postgres_url carries a password")
    if not conf.get("postgres_password_file"):
        problems.append("PostgreSQL: no postgres_password_file")
    for s in (d for d in docs if d["kind"] == "Secret"):
        values = list(s.get("stringData", {}).values()) + list(s.get("data", {}).values())
        if any(v not in ("", None) for v in values):
            problems.append(f"Secret {s['metadata']['name']}: a value is committed, want the "
                            "empty placeholder")
    init = spec.get("initContainers", [])
    if not any("migrate" in c.get("args", []) and
               file_mounted(conf.get("postgres_password_file", ""), c,
                            {v["name"]: v for v in spec.get("volumes", [])}) for c in init):
        problems.append("PostgreSQL: no init container that migrates with the password mounted")
    return problems


def compare_kubectl(path, docs):
    real = kubectl(path)
    if real is None:
        return []
    if real and isinstance(real[0], str):
        return real
    if normal(real) != normal(docs):
        return [f"{path}: this check's rendering differs from kubectl kustomize's"]
    return []


def main():
    problems = []
    pg_path = os.path.join(root, "postgresql")
    sqlite, pg = render(root), render(pg_path)
    problems += [f"sqlite: {p}" for p in check_sqlite(sqlite) + compare_kubectl(root, sqlite)]
    problems += [f"postgresql: {p}" for p in check_postgresql(pg) + compare_kubectl(pg_path, pg)]
    # The check itself: broken renders are reported.
    broken = copy.deepcopy(pg)
    broken = [d for d in broken if d["kind"] != "PodDisruptionBudget"]
    [d for d in broken if d["kind"] == "Secret"][0]["stringData"]["password"] = "hunter2"
    dep = [d for d in broken if d["kind"] == "Deployment"][0]
    dep["spec"]["replicas"] = 1
    pod_spec(dep)["affinity"] = {}
    found = check_postgresql(broken)
    for want in ("replicas is 1", "PodDisruptionBudget", "committed", "anti-affinity"):
        if not any(want in p for p in found):
            problems.append(f"self-check: a broken render was not reported ({want})")
    for p in problems:
        print(p)
    print(f"sqlite: {len(sqlite)} objects, postgresql: {len(pg)} objects, "
          f"kubectl: {'compared' if shutil.which('kubectl') else 'not installed, skipped'}")
    return 1 if problems else 0


sys.exit(main())
