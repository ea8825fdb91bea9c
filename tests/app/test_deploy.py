"""The deployment files say what the README promises (no cluster or Docker engine here: the
replica test runs the same nginx routing and start script on loopback)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _docs(name: str) -> list[dict]:
    return list(yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()))


def test_kubernetes_routes_by_session_and_probes_health():
    (ingress,) = _docs("ingress.yaml")
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$arg_session"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    for name in ("deployment.yaml", "deployment-gpu.yaml"):
        (deployment,) = _docs(name)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/api/health"
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["TORCHPLAY_HOST"] == "0.0.0.0" and "TORCHPLAY_ALLOWED_HOSTS" in env
    (gpu,) = _docs("deployment-gpu.yaml")
    (container,) = gpu["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    (service,) = _docs("service.yaml")
    assert service["spec"]["selector"] == {"app": "torchplay"}


def test_compose_puts_nginx_with_the_session_routing_in_front_of_the_replicas():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [name for name in services if name.startswith("torchplay-")]
    assert len(replicas) >= 2
    upstreams = services["nginx"]["environment"]["TORCHPLAY_UPSTREAMS"]
    assert all(f"server {name}:8000;" in upstreams for name in replicas)
    mount = services["nginx"]["volumes"][0]
    assert mount.startswith("./nginx/torchplay.conf.template:/etc/nginx/templates/")
    template = (DEPLOY / "nginx" / "torchplay.conf.template").read_text()
    assert "hash $arg_session consistent;" in template
    assert "proxy_set_header Upgrade $http_upgrade;" in template


def test_the_image_installs_and_starts_through_the_tested_script():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "deploy/torchplay.sh install" in dockerfile
    assert 'CMD ["deploy/torchplay.sh", "start"]' in dockerfile
    assert "constraints.txt" in dockerfile
