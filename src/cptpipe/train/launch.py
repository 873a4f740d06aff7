"""The command that runs a module under an accelerate config (`train.accelerate_config`)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def launch_command(config_file: str | Path, module: str) -> tuple[list[str], dict[str, str]]:
    """(argv, extra env) running `python -m module` in every process the config asks for.

    `accelerate launch` covers GPUs, FSDP, DeepSpeed and multi-node. It starts only one process for
    a single-machine multi-CPU config unless MPI is set up, so that case goes through torchrun
    (gloo), which accelerate picks up from the environment the same way.
    """
    cfg = yaml.safe_load(Path(config_file).read_text()) or {}
    n = int(cfg.get("num_processes", 1))
    cpu = cfg.get("use_cpu", False) or cfg.get("distributed_type") == "MULTI_CPU"
    if cpu and n > 1 and int(cfg.get("num_machines", 1)) == 1 and not cfg.get("mpirun_config"):
        argv = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(n),
            "--master_addr",
            str(cfg.get("main_process_ip") or "127.0.0.1"),
            "--master_port",
            str(cfg.get("main_process_port") or 29500),
            "-m",
            module,
        ]
        env = {
            "ACCELERATE_USE_CPU": "true",
            "ACCELERATE_MIXED_PRECISION": str(cfg.get("mixed_precision", "no")),
            "OMP_NUM_THREADS": str(cfg.get("num_cpu_threads_per_process", 1)),
        }
        return argv, env
    return [
        sys.executable,
        "-m",
        "accelerate.commands.accelerate_cli",
        "launch",
        "--config_file",
        str(config_file),
        "-m",
        module,
    ], {}
