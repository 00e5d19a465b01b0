"""`app manifests kubernetes`: the YAML of the example graphs, validated offline against the
Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors) and read back with
PyYAML to check what each object says."""
import math
import os
import subprocess

import kubernetes_validate
import pytest
import yaml

from conftest import BUILD

K8S_VERSION = "1.37.0"  # the newest the pinned kubernetes-validate knows
EXAMPLES = ["sequential", "ensemble", "dag", "digits"]


def manifests(example, *args, check=True):
    binary = os.path.join(BUILD, "examples", example)
    p = subprocess.run([binary, "manifests", "kubernetes", *args], capture_output=True, text=True,
                       timeout=30)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def objects(text):
    return [d for d in yaml.safe_load_all(text) if d is not None]


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def graph_services(example):
    """The services of the example's graph, from the OpenAPI-free source of truth: the
    supervisor's own --service check lists them when given an unknown name."""
    binary = os.path.join(BUILD, "examples", example)
    p = subprocess.run([binary, "serve", "--service", "NoSuchService"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    return [s.strip() for s in p.stderr.split("this program has:")[1].split(",")]


@pytest.mark.parametrize("example", EXAMPLES)
def test_valid_for_current_kubernetes(example):
    docs = objects(manifests(example, "--image", "registry.test/tiffin/%s:1" % example,
                             "--namespace", "ml").stdout)
    for d in docs:
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)  # raises on any error
        assert d["metadata"]["namespace"] == "ml"
        assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tiffin"


def test_validation_rejects_a_broken_object():
    """The validator is not a rubber stamp: a wrong type or unknown field is caught."""
    docs = objects(manifests("ensemble", "--image", "x").stdout)
    dep = by_kind(docs, "Deployment")["modela"]
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)
    dep = by_kind(docs, "Deployment")["modelb"]
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


@pytest.mark.parametrize("example", EXAMPLES)
def test_one_deployment_and_service_per_service_wired_by_depends(example):
    docs = objects(manifests(example, "--image", "img").stdout)
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    names = graph_services(example)
    assert len(deployments) == len(names) == len(services)
    assert not by_kind(docs, "HorizontalPodAutoscaler")  # no example declares a range
    ports = {n: s["spec"]["ports"][0]["port"] for n, s in services.items()}
    served = set()
    for name, d in deployments.items():
        labels = d["spec"]["selector"]["matchLabels"]
        assert d["spec"]["template"]["metadata"]["labels"] == labels
        assert services[name]["spec"]["selector"] == labels
        (c,) = d["spec"]["template"]["spec"]["containers"]
        cmd = c["command"]
        assert cmd[:3] == [example, "serve", "--service"]
        served.add(cmd[3])
        assert cmd[4:8] == ["--host", "0.0.0.0", "--port", "3000"]
        assert c["ports"] == [{"name": "http", "containerPort": 3000}]
        # Every --depends points at a Service of this manifest, on its port.
        depends = cmd[8:]
        assert depends[::2] == ["--depends"] * (len(depends) // 2)
        for arg in depends[1::2]:
            dep, url = arg.split("=", 1)
            host, port = url[len("http://"):].split(":")
            assert url.startswith("http://") and host in services, arg
            assert int(port) == ports[host]
        assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        pre = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        # preStop + the default drain (10 s) + 1 s of slack before SIGKILL
        assert d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == pre + 10 + 1
        assert d["spec"]["replicas"] == 1
    assert served == set(names)


def test_entry_depends_on_every_dependency_of_the_ensemble():
    docs = objects(manifests("ensemble", "--image", "img").stdout)
    cmd = by_kind(docs, "Deployment")["ensemble"]["spec"]["template"]["spec"]["containers"][0][
        "command"]
    assert sorted(cmd[9::2]) == sorted([
        "Aggregator=http://aggregator:3000", "ModelA=http://modela:3000",
        "ModelB=http://modelb:3000", "Preprocessor=http://preprocessor:3000"])


def test_resources_of_digits_become_requests_and_limits():
    """digits declares cpu and memory per service (examples/digits/service_models.c and
    service_steps.c)."""
    docs = objects(manifests("digits", "--image", "img").stdout)
    deployments = by_kind(docs, "Deployment")
    res = {n: d["spec"]["template"]["spec"]["containers"][0]["resources"]
           for n, d in deployments.items()}
    assert res["preprocessing"] == {"requests": {"cpu": "500m", "memory": "256Mi"},
                                    "limits": {"cpu": "1", "memory": "256Mi"}}
    assert res["aggregator"]["requests"] == {"cpu": "250m", "memory": "128Mi"}
    for r in res.values():
        # the limit is the whole cores `serve` would pin the worker to
        cpu = int(r["requests"]["cpu"].rstrip("m")) / 1000
        assert r["limits"]["cpu"] == str(math.ceil(cpu))
        assert r["limits"]["memory"] == r["requests"]["memory"]
        assert "nvidia.com/gpu" not in r["limits"]
    # the entry's timeout is 10 s, but its drain is the default: 5 + 10 + 1
    spec = deployments["digits"]["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] == 16


def test_workers_flag_gives_replicas_and_a_range_gives_an_hpa():
    docs = objects(manifests("ensemble", "--image", "img", "--workers", "ModelA=2:6",
                             "--workers", "ModelB=3", "--workers", "4").stdout)
    deployments, hpas = by_kind(docs, "Deployment"), by_kind(docs, "HorizontalPodAutoscaler")
    assert deployments["modelb"]["spec"]["replicas"] == 3
    assert deployments["ensemble"]["spec"]["replicas"] == 4  # no NAME: the entry
    assert "replicas" not in deployments["modela"]["spec"]   # the autoscaler owns it
    assert list(hpas) == ["modela"]
    h = hpas["modela"]["spec"]
    assert (h["minReplicas"], h["maxReplicas"]) == (2, 6)
    assert h["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": "modela"}
    assert h["metrics"][0]["resource"]["name"] == "cpu"
    for d in docs:
        kubernetes_validate.validate(d, K8S_VERSION, strict=True)


@pytest.mark.parametrize("args, why", [
    ([], "--image IMAGE is required"),
    (["--image", "img", "--namespace", "Bad_NS"], "not a DNS-1123 label"),
    (["--image", "has space"], "space or control character"),
    (["--image", "img", "--port", "0"], "--port wants"),
    (["--image", "img", "--workers", "ModelA=3:2"], "MIN <= MAX"),
    (["--image", "img", "--workers", "Nobody=2"], "no service called 'Nobody'"),
    (["--image", "img", "extra"], "unexpected argument"),
])
def test_bad_usage_exits_2_with_a_reason(args, why):
    p = manifests("ensemble", *args, check=False)
    assert p.returncode == 2 and why in p.stderr, p.stderr
    assert p.stdout == ""


def test_unknown_target_and_help():
    binary = os.path.join(BUILD, "examples", "ensemble")
    p = subprocess.run([binary, "manifests", "nomad"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown target 'nomad'" in p.stderr
    p = subprocess.run([binary, "manifests", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "--image IMAGE" in p.stdout
