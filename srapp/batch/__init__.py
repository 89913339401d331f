"""Batch glue over the engine: input planning, the batch runner, the benchmark protocol, reports."""

from .benchmark import benchmark, mean_psnr
from ..errors import UsageError
from .inputs import Job, Plan, plan_batch, plan_jobs, shard
from .report import ImageRecord, Report, merge
from .runner import DEFAULT_MAX_PIXELS, BatchRunner, check_output_folder

__all__ = [
    "DEFAULT_MAX_PIXELS", "BatchRunner", "ImageRecord", "Job", "Plan", "Report", "UsageError", "benchmark",
    "check_output_folder", "mean_psnr", "merge", "plan_batch", "plan_jobs", "shard",
]
