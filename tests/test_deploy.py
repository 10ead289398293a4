"""The deployment files agree with the code and with each other (deploy/, Dockerfile, docs/deploy.md).

Nothing here starts a cluster: these tests catch what a new operator would otherwise find one failed
rollout at a time: a variable advdemo does not read, a probe on the wrong path, a Ray address that
names no service, a store mounted somewhere else on the Ray nodes than on the replicas.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML comes with the test extra")

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"


def documents() -> dict[str, dict]:
    """Every Kubernetes object in deploy/kubernetes, by kind."""
    out: dict[str, dict] = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in out, f"two objects of kind {doc['kind']}"
            out[doc["kind"]] = doc
    return out


def containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def mounts(pod_template: dict) -> dict[str, str]:
    """mount path: claim name, for one pod template."""
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod_template["spec"]["volumes"]}
    return {m["mountPath"]: claims[m["name"]] for c in containers(pod_template) for m in c["volumeMounts"]}


def dockerfile_env() -> dict[str, str]:
    block = re.search(r"^ENV (.*?)\n\n", (ROOT / "Dockerfile").read_text(), re.M | re.S).group(1)
    return dict(re.findall(r"(\w+)=(\S+)", block))


def test_the_manifests_set_only_variables_advdemo_reads_and_probe_the_images_health_path():
    docs = documents()
    sources = "\n".join(p.read_text() for p in (ROOT / "advdemo").rglob("*.py"))
    page = containers(docs["Deployment"]["spec"]["template"])[0]
    ray_pods = [docs["RayCluster"]["spec"]["headGroupSpec"]["template"],
                *(g["template"] for g in docs["RayCluster"]["spec"]["workerGroupSpecs"])]
    for container in [page, *(c for t in ray_pods for c in containers(t))]:
        for name in env_of(container):
            assert f'"{name}"' in sources, f"{container['name']} sets {name}, which advdemo never reads"
    port = int(dockerfile_env()["STREAMLIT_SERVER_PORT"])
    assert [p["containerPort"] for p in page["ports"]] == [port]
    health = re.search(r"/_stcore/health", (ROOT / "Dockerfile").read_text()).group(0)
    for probe in ("readinessProbe", "livenessProbe"):
        assert page[probe]["httpGet"] == {"path": health, "port": port}
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == port


def test_the_replicas_reach_the_ray_head_and_share_its_volume_at_the_same_paths():
    docs = documents()
    cluster = docs["RayCluster"]
    page_template = docs["Deployment"]["spec"]["template"]
    env = env_of(containers(page_template)[0])
    host, port = re.fullmatch(r"ray://([\w-]+):(\d+)", env["ADVDEMO_RAY_ADDRESS"]).groups()
    assert host == cluster["metadata"]["name"] + "-head-svc"  # the service KubeRay makes for the head
    head = cluster["spec"]["headGroupSpec"]["template"]
    assert int(port) in [p["containerPort"] for c in containers(head) for p in c["ports"]]
    claim = docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert "ReadWriteMany" in docs["PersistentVolumeClaim"]["spec"]["accessModes"]
    # The store and MNIST must sit at the same paths wherever a task may run: it reads the paths the replica sends.
    for template in [page_template, head, *(g["template"] for g in cluster["spec"]["workerGroupSpecs"])]:
        where = mounts(template)
        for path in (env["ADVDEMO_CACHE_DIR"], env["ADVDEMO_MNIST_DIR"]):
            assert any(path.startswith(m.rstrip("/") + "/") and where[m] == claim for m in where), (path, where)
    # The image, the cluster and the docs name one Ray version (Ray Client needs the same on both sides).
    version = cluster["spec"]["rayVersion"]
    for path in (ROOT / "Dockerfile", KUBERNETES / "advdemo.yaml", ROOT / "docs" / "deploy.md"):
        assert set(re.findall(r"RAY_VERSION=([\d.]+)", path.read_text())) == {version}, path
    images = {c["image"] for t in [page_template, head, *(g["template"] for g in cluster["spec"]["workerGroupSpecs"])]
              for c in containers(t)}
    assert len(images) == 1, images  # the page and the workers run the same code


def test_the_ingress_keeps_each_browser_on_one_replica_and_its_websocket_open():
    annotations = documents()["Ingress"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    # Uploads stay within Streamlit's own limit (.streamlit/config.toml, maxUploadSize in MB).
    upload = int(re.search(r"^maxUploadSize = (\d+)", (ROOT / ".streamlit" / "config.toml").read_text(), re.M).group(1))
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == f"{upload}m"


def test_the_image_runs_as_the_user_hugging_face_spaces_uses_and_ray_workers_import_advdemo():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"useradd .*--uid 1000 ", text)
    assert dockerfile_env()["PYTHONPATH"] == "/app" and "COPY advdemo ./advdemo" in text
    docs = documents()
    cluster = docs["RayCluster"]["spec"]
    for template in [docs["Deployment"]["spec"]["template"], cluster["headGroupSpec"]["template"],
                     *(g["template"] for g in cluster["workerGroupSpecs"])]:
        assert template["spec"]["securityContext"]["runAsUser"] == 1000  # the image's user owns /data
