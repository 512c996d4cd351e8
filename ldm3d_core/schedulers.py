"""Samplers for the LDM3D pipelines, built from the checkpoint's own scheduler config.

``ddim`` is the paper's sampler (LDM3D §3.1, after Stable Diffusion); ``dpm`` is
DPM-Solver++ (2nd order multistep) and ``euler`` Euler's method, both good at fewer steps.
"""

from __future__ import annotations

from typing import Any

from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler
from diffusers.schedulers.scheduling_utils import SchedulerMixin

SCHEDULER_NAMES = ("ddim", "dpm", "euler")


def make_scheduler(name: str, config: dict[str, Any]) -> SchedulerMixin:
    """A fresh scheduler ``name`` (ddim | dpm | euler) from a checkpoint's scheduler config.

    Fresh per call: schedulers carry per-run state (step index, solver history).
    """
    config = dict(config)
    if name == "ddim":
        # Old configs without the key would get DDIM's default clip_sample=True, which
        # clips latents to [-1, 1]; Stable Diffusion checkpoints never want that.
        config.setdefault("clip_sample", False)
        return DDIMScheduler.from_config(config)
    if name == "dpm":
        return DPMSolverMultistepScheduler.from_config(
            config, algorithm_type="dpmsolver++", solver_order=2
        )
    if name == "euler":
        return EulerDiscreteScheduler.from_config(config)
    raise ValueError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULER_NAMES)}")
