"""Splitting a batch run across ``torchrun`` processes and merging their reports on rank 0."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch.distributed as dist

from ..engine.devices import AUTO, resolve_device
from .report import Report, merge


@dataclass(frozen=True)
class Rank:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_rank() -> Rank:
    """This process's place in a ``torchrun`` launch (RANK / WORLD_SIZE / LOCAL_RANK); rank 0 of 1 otherwise."""
    return Rank(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0)))


def rank_device(device: str, rank: Rank) -> str:
    """``auto`` under torchrun with CUDA means this process's own GPU."""
    if device == AUTO and rank.world_size > 1:
        return str(resolve_device(AUTO, rank.local_rank))
    return device


def gather_reports(report: Report, rank: Rank) -> Report | None:
    """Rank 0 gets the merged report of every rank (over gloo, so CPU-only runs work); others get None."""
    if rank.world_size == 1:
        return report
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("gloo")
    try:
        gathered: list[dict | None] | None = [None] * rank.world_size if rank.is_main else None
        dist.gather_object(report.to_dict(), gathered, dst=0)
    finally:
        if owns_group:
            dist.destroy_process_group()
    return merge([Report.from_dict(part) for part in gathered]) if rank.is_main else None
