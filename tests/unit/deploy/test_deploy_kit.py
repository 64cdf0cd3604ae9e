"""The deployment kit, checked without Docker or Kubernetes (neither runs here): compose
parses with the expected services, each Kubernetes manifest passes the Kubernetes JSON
schema (kubernetes-validate, strict) and carries what operations rely on, the nginx
template renders to a configuration `nginx -t` accepts, and the Dockerfile builds a slim
image that runs as a non-root user."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mercato.cluster import engines
from mercato.cluster.topology import Layout, Shape

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.31"
MERCATO_SERVICES = {"migrate", "api", "payments", "worker", "payments-worker", "sandbox"}
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|DATABASE_(READ_)?URL|API_KEY")


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path.name, document))
    return found


def test_compose_has_the_whole_topology() -> None:
    services = _compose()["services"]
    assert set(services) == MERCATO_SERVICES | {
        "nginx",
        "postgres",
        "postgres-replica",
        "redis",
        "nats",
        "mailpit",
    }
    assert services["api"]["deploy"]["replicas"] == 3
    assert {services[name]["image"] for name in MERCATO_SERVICES} == {
        "${MERCATO_IMAGE:-mercato:latest}"
    }
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "./nginx/templates:/etc/nginx/templates:ro" in services["nginx"]["volumes"]
    assert services["nginx"]["environment"]["NGINX_ENVSUBST_FILTER"] == "^MERCATO_"


def test_compose_keeps_secrets_out_of_its_environment() -> None:
    services = _compose()["services"]
    for name in MERCATO_SERVICES:
        environment = services[name]["environment"]
        assert not [key for key in environment if _SECRET_NAME.search(key)], name
        assert services[name]["env_file"][0]["path"] == "./secrets/mercato.env"
        assert "jwt_keys" in services[name]["secrets"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")


def test_the_checkout_reaches_the_payments_service_everywhere(tmp_path: Path) -> None:
    """Orders calls payments at ORDERS_PAYMENTS_URL (default 127.0.0.1:8001, right only
    for `mercato run`): the cluster, compose and Kubernetes each point it at the service."""
    layout = Layout(ROOT, 18900, Shape(), tmp_path)
    assert layout.common_env()["ORDERS_PAYMENTS_URL"] == f"{layout.public_url}/payments"
    assert _compose()["x-mercato-env"]["ORDERS_PAYMENTS_URL"] == "http://nginx:8080/payments"
    config = next(doc for _, doc in _manifests() if doc["metadata"]["name"] == "mercato-config")
    assert config["data"]["ORDERS_PAYMENTS_URL"] == "http://mercato-payments"


def test_every_kubernetes_manifest_passes_the_schema() -> None:
    manifests = _manifests()
    assert len(manifests) >= 10
    for name, manifest in manifests:
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} {manifest['kind']}/{manifest['metadata']['name']}: {error}")


def test_the_http_deployments_probe_health_and_the_split_is_config_then_secret() -> None:
    deployments = {m["metadata"]["name"]: m for _, m in _manifests() if m["kind"] == "Deployment"}
    for name in ("mercato-api", "mercato-payments"):
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert [
            source.get("configMapRef", source.get("secretRef"))["name"]
            for source in container["envFrom"]
        ] == [
            "mercato-config",
            "mercato-secrets",
        ]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert deployments[name]["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    config = next(m for _, m in _manifests() if m["kind"] == "ConfigMap")
    assert not [key for key in config["data"] if _SECRET_NAME.search(key)]
    hpas = {
        m["spec"]["scaleTargetRef"]["name"]: m
        for _, m in _manifests()
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    assert hpas["mercato-api"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    job = next(m for _, m in _manifests() if m["kind"] == "Job")
    assert (
        "mercato migrate up && mercato payments migrate up"
        in job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    )


def test_kustomize_ships_the_nginx_template_the_cluster_renders() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / resource).exists(), resource
    [generated] = kustomization["configMapGenerator"]
    assert (DEPLOY / generated["files"][0]).resolve() == (ROOT / engines.NGINX_TEMPLATE).resolve()


def test_the_nginx_template_renders_to_a_configuration_nginx_accepts(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    layout = Layout(ROOT, 18900, Shape(api=3, payments=2), tmp_path)
    config = engines.render_nginx(layout)
    site = (tmp_path / "nginx" / "mercato.conf").read_text()
    assert "${" not in site
    assert site.count("server 127.0.0.1:") == 5
    assert "non_idempotent" not in site.split("proxy_next_upstream ")[1].split(";")[0]
    checked = subprocess.run(
        [nginx, "-t", "-p", str(config.parent), "-c", str(config), "-e", str(tmp_path / "err.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_a_template_name_without_a_value_is_refused() -> None:
    with pytest.raises(KeyError, match="MERCATO_LISTEN"):
        engines.render_template("listen ${MERCATO_LISTEN}; $request_id", {})
    assert engines.render_template("$host ${MERCATO_X}", {"MERCATO_X": "1"}) == "$host 1"


def test_the_image_is_multi_stage_slim_uv_built_and_not_root() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", dockerfile, flags=re.MULTILINE)
    assert [stage for _, stage in stages] == ["uv", "build", "runtime"]
    assert all("slim" in image for image, stage in stages if stage != "uv")
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "uv " not in runtime  # no build tools shipped
    assert "pip install" not in runtime
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.MULTILINE)
    assert "HEALTHCHECK" in runtime
