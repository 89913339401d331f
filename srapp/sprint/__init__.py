"""Sprints: training runs against a wall-clock budget, self-contained for a lent accelerator.

A lent GPU machine receives the working tree (at most 64 MiB) and runs one command of at most ten
minutes, with PyTorch but without BasicSR. A sprint needs nothing else: the training images
packed losslessly into an ignored folder (``srapp pack-images``), a recipe
(:mod:`srapp.sprint.recipe`, ``options/sprint/``), and :func:`run_sprint`, which keeps every pair
on the device, trains one cosine cycle in wall time and leaves the EMA weights (int8, as shipped)
and a report with the validation curve in an output folder, updated as it goes.
``python -m srapp.sprint`` is its command line; ``python -m srapp.training promote`` ships a
returned file only if it scores better than the shipped one.
"""

from .loop import SprintReport, run_sprint
from .recipe import Recipe, load_recipe, recipe_from_dict

__all__ = ["Recipe", "SprintReport", "load_recipe", "recipe_from_dict", "run_sprint"]
