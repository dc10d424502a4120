"""docker/k8s/train-job.yaml runs the documented multi-node torchrun command: torchrun's own argument parser and the
LoRA recipe's parser accept its arguments, the node count, node rank, rendezvous host and GPU count agree with the
Indexed Job, the headless Service and the trainer image, and checkpoints land on the shared volume."""
from __future__ import annotations

import re

import yaml

from ._util import DOCKER, K8S


def _job_and_service():
    docs = [d for d in yaml.safe_load_all((K8S / "train-job.yaml").read_text()) if d]
    job = next(d for d in docs if d["kind"] == "Job")
    svc = next(d for d in docs if d["kind"] == "Service")
    return job, svc


def _torchrun_args(container: dict, node_rank: str = "0") -> list[str]:
    # Kubernetes expands $(VAR) in args from the pod's environment; JOB_COMPLETION_INDEX is the pod's index
    return [a.replace("$(JOB_COMPLETION_INDEX)", node_rank) for a in container["args"]]


def test_trainer_image_entrypoint_is_torchrun():
    text = (DOCKER / "trainer.Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["torchrun"\]', text, re.M)


def test_train_job_args_parse_as_torchrun_and_as_the_recipe():
    from torch.distributed.run import get_args_parser
    from finetune.recipes.lora_sft import parse_args
    job, svc = _job_and_service()
    spec = job["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    for rank in ("0", "1"):
        a = get_args_parser().parse_args(_torchrun_args(container, rank))
        assert a.module and a.training_script == "finetune.recipes.lora_sft"
        assert a.nnodes == str(spec["completions"]) == str(spec["parallelism"])
        assert spec["completionMode"] == "Indexed"
        assert a.node_rank == int(rank)
        assert a.rdzv_backend == "c10d"
        # rendezvous at pod 0 through the headless Service: <job>-0.<service>:<port>
        host, port = a.rdzv_endpoint.rsplit(":", 1)
        assert host == f"{job['metadata']['name']}-0.{svc['metadata']['name']}"
        assert svc["spec"]["clusterIP"] == "None" and pod["subdomain"] == svc["metadata"]["name"]
        assert int(port) in [p["port"] for p in svc["spec"]["ports"]]
        assert svc["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
        assert a.nproc_per_node == "gpu" and int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
        # what follows the module is the recipe's own command line
        cfg = parse_args(a.training_script_args)
        assert cfg.fsdp is True
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        # the run directory (checkpoints, sharded by every rank) is on the claim every pod mounts
        out_mount = next(m for m in mounts if cfg.output_dir.startswith(m + "/"))
        vol = next(v for v in pod["volumes"] if v["name"] == mounts[out_mount])
        assert "persistentVolumeClaim" in vol
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env.get("NCCL_NVLS_ENABLE") == "0"
    assert pod["restartPolicy"] == "OnFailure" and spec["backoffLimit"] >= 1   # a failed pod resumes
