"""Deployment artefacts checked by the tools that consume them: kubernetes-validate (the Kubernetes
OpenAPI schemas), `docker-compose config`, `promtool check rules` / `promtool test rules`, and the
dashboard's metric names against a live server's /metrics."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from tests.observability.scrape import scrape
from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: `make install-test` installs it (scripts/install-test-tools.sh)"
    return path


def _k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for f in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs.append((f.name, doc))
    return docs


def _by_kind(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in _k8s_docs() if d["kind"] == kind]
    return doc


@pytest.mark.parametrize(("name", "doc"), _k8s_docs(), ids=lambda v: v if isinstance(v, str) else v.get("kind"))
def test_k8s_manifests_match_the_schemas(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, latest_version(), strict=True)


def test_the_schema_check_catches_mistakes() -> None:
    broken = copy.deepcopy(_by_kind("Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pathh"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


def test_kustomization_lists_every_manifest_but_the_examples_and_the_job() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    files = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml", "migrate-job.yaml"}
    assert listed == files


def test_deployment_is_operable() -> None:
    dep = _by_kind("Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    (c,) = pod["containers"]
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    # preStop delay + uvicorn's 30 s graceful shutdown fit in the grace period.
    pre_stop = float(re.search(r"sleep\((\d+(?:\.\d+)?)\)", " ".join(c["lifecycle"]["preStop"]["exec"]["command"]))[1])
    assert pre_stop + 30 < pod["terminationGracePeriodSeconds"]
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/data", "/tmp", "/run/secrets/mbf"} <= mounts
    envs = {e["name"]: e.get("value") for e in c["env"]}
    assert envs["MBF_SECRET_KEY_FILE"].startswith("/run/secrets/mbf/")
    config = _by_kind("ConfigMap")["data"]
    assert config["MBF_METRICS_PORT"] == str(next(p for p in c["ports"] if p["name"] == "metrics")["containerPort"])
    assert config["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")  # per pod, never on the shared /data


def test_hpa_pdb_job_and_policy() -> None:
    from app.observability.metrics import WEBSOCKET_CONNECTIONS

    hpa = _by_kind("HorizontalPodAutoscaler")["spec"]
    kinds = {m["type"]: m for m in hpa["metrics"]}
    assert kinds["Resource"]["resource"]["name"] == "cpu"
    assert kinds["Pods"]["pods"]["metric"]["name"] == WEBSOCKET_CONNECTIONS._name
    assert _by_kind("PodDisruptionBudget")["spec"]["minAvailable"] == 1
    job = _by_kind("Job")["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["mbf", "migrate", "upgrade"]
    assert job["securityContext"]["runAsNonRoot"] is True
    policy = _by_kind("NetworkPolicy")["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert {p["port"] for rule in policy["ingress"] for p in rule["ports"]} == {8000, 9464}


@pytest.mark.parametrize("profile", [None, "electrs"])
def test_compose_file_is_valid(profile: str | None) -> None:
    compose = _tool("docker-compose")
    args = [compose, "-f", str(DEPLOY / "compose" / "docker-compose.yml")]
    if profile:
        args += ["--profile", profile]
    out = subprocess.run([*args, "config"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load(out.stdout)
    services = set(config["services"])
    assert {"app", "postgres", "redis", "migrate"} <= services
    # Only electrs is behind a profile (docker-compose 1.x renders every service in `config`).
    assert {name for name, svc in config["services"].items() if svc.get("profiles")} == {"electrs"}
    assert config["services"]["electrs"]["profiles"] == ["electrs"]
    app = config["services"]["app"]
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["environment"]["MBF_REDIS_URL"].startswith("redis://redis:")
    assert app["environment"]["MBF_DATABASE_URL_FILE"].startswith("/run/secrets/")


def test_alert_rules_pass_promtool() -> None:
    promtool = _tool("promtool")
    rules = DEPLOY / "prometheus"
    checked = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=rules, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=rules, capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = {r["alert"] for g in yaml.safe_load((rules / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    assert {
        "MbfChainBackendDown",
        "MbfSyncFailing",
        "MbfHubLagHigh",
        "MbfGraphQLErrorRateHigh",
        "MbfLndStreamDown",
        "MbfDiskLow",
        "MbfDown",
    } <= alerts


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Every panel query through Prometheus's own parser (as recording rules, template variables filled)."""
    promtool = _tool("promtool")
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": e.replace("$instance", ".*")}
                    for i, e in enumerate(_dashboard_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    out = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _metric_names(text: str) -> set[str]:
    return set(re.findall(r"\b(mbf_[a-z0-9_]+)", text))


async def test_every_metric_used_exists_in_metrics(server: LiveServer) -> None:
    samples = await scrape(f"{server.url}/metrics")
    import httpx

    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{server.url}/metrics")).text
    exposed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    exposed |= {n for n, _ in samples}
    suffixes = ("_bucket", "_count", "_sum", "_total", "_created")
    names_exposed = exposed | {e + s for e in exposed for s in suffixes}
    used = _metric_names(" ".join(_dashboard_exprs())) | _metric_names(
        (DEPLOY / "prometheus" / "alerts.yml").read_text()
    )
    used |= _metric_names((K8S / "hpa.yaml").read_text())
    assert used and used <= names_exposed, sorted(used - names_exposed)


def test_dockerfile_needs_no_buildkit_and_uses_the_constraints() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert not any("--mount" in ln or "<<" in ln for ln in instructions)  # RUN --mount, heredocs: BuildKit only
    assert not re.search(r"^#\s*syntax\s*=", text, re.M)
    froms = [ln.split()[1] for ln in instructions if ln.startswith("FROM ")]
    assert froms == ["${NODE_IMAGE}", "${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "-c constraints.txt" in text and "COPY pyproject.toml README.md constraints.txt" in text


def test_constraints_pin_every_installed_dependency() -> None:
    from importlib.metadata import version

    pins = dict(
        ln.split("==", 1) for ln in (ROOT / "constraints.txt").read_text().splitlines() if ln and not ln.startswith("#")
    )
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.-]*", n) for n in pins)
    for name in ("strawberry-graphql", "prometheus-client", "opentelemetry-sdk", "sqlalchemy", "pytest"):
        assert name in pins, name
    # The environment the tests run in is the one the file describes (make install-test uses -c constraints.txt).
    mismatched = {n: (v, version(n)) for n, v in pins.items() if version(n) != v}
    assert not mismatched, mismatched
