"""A stage replaces a shipped file only when its weights score better, and every stage is recorded."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from srapp import RCAN, save_checkpoint
from srapp.io.image_io import write_image
from srapp.engine.resize import imresize
from srapp.errors import UsageError
from srapp.training.promote import StageRecord, append_history, promote_if_better, set5_psnr

pytestmark = pytest.mark.training


def hr_folder(tmp_path):
    folder = tmp_path / "hr"
    rng = np.random.default_rng(0)
    for index in range(2):
        smooth = imresize(rng.random((12, 12, 3)), output_shape=(48, 48))
        write_image(folder / f"{index}.png", (np.clip(smooth, 0, 1) * 255).round().astype(np.uint8))
    return folder


def tiny(tail_scale: float) -> RCAN:
    """A tiny RCAN whose output drifts further from a constant grey as tail_scale grows (random weights)."""
    torch.manual_seed(0)
    network = RCAN(scale=2, num_groups=1, num_blocks=1, channels=8, reduction=4)
    with torch.no_grad():
        network.tail.weight.mul_(tail_scale)
        network.tail.bias.zero_()
    return network


def test_a_better_candidate_replaces_the_file_and_a_worse_one_does_not(tmp_path):
    dataset = hr_folder(tmp_path)
    score = set5_psnr(dataset)
    a, b = save_checkpoint(tiny(0.0), tmp_path / "a.pth"), save_checkpoint(tiny(3.0), tmp_path / "b.pth")
    better, worse = (a, b) if score(a) > score(b) else (b, a)
    assert score(better) > score(worse)  # the two really differ

    target = tmp_path / "weights" / "model.pth"
    target.parent.mkdir()
    target.write_bytes(worse.read_bytes())
    kept = promote_if_better(worse, target, score)  # equal is not better
    assert not kept.promoted and kept.after == kept.before

    promoted = promote_if_better(better, target, score)
    assert promoted.promoted and promoted.after > promoted.before
    assert target.read_bytes() == better.read_bytes()

    refused = promote_if_better(worse, target, score)
    assert not refused.promoted and target.read_bytes() == better.read_bytes()
    assert not list(target.parent.glob(".*.part"))


def test_nothing_shipped_yet_means_any_candidate_is_promoted(tmp_path):
    dataset = hr_folder(tmp_path)
    candidate = save_checkpoint(tiny(1.0), tmp_path / "c.pth")
    result = promote_if_better(candidate, tmp_path / "new.pth", set5_psnr(dataset))
    assert result.promoted and result.before == -math.inf and (tmp_path / "new.pth").is_file()


def test_stages_are_appended_to_the_history(tmp_path):
    history = tmp_path / "history.json"
    for promoted in (True, False):
        append_history(StageRecord("s", "o.yml", "w.pth", 10, 1.5, "cpu", None, 30.0, promoted), history)
    records = json.loads(history.read_text())
    assert [r["promoted"] for r in records] == [True, False] and records[0]["set5_before"] is None


def test_a_score_over_a_folder_with_a_broken_image_is_refused(tmp_path):
    dataset = hr_folder(tmp_path)
    checkpoint = save_checkpoint(tiny(1.0), tmp_path / "a.pth")
    assert math.isfinite(set5_psnr(dataset)(checkpoint))
    (dataset / "broken.png").write_bytes(b"not an image")
    with pytest.raises(UsageError, match=r"hr: 1 of 3 images failed"):
        set5_psnr(dataset)(checkpoint)


def test_each_model_is_judged_on_the_benchmark_it_is_for(tmp_path):
    from srapp.training.promote import Judgement, judged_on

    weights = tmp_path / "weights"
    weights.mkdir()
    assert judged_on(weights / "rcan-x4.pth") == Judgement(None, None)
    assert judged_on(weights / "rcan-x4-photo.pth") == Judgement("medium", None)  # no parent either
    (weights / "rcan-x4.pth").write_bytes(b"parent")
    assert judged_on(weights / "rcan-x4.pth") == Judgement(None, weights / "rcan-x4.pth")
    # a new photo model must beat the model it was fine-tuned from, on degraded inputs
    assert judged_on(weights / "rcan-x4-photo.pth") == Judgement("medium", weights / "rcan-x4.pth")
    (weights / "rcan-x4-photo.pth").write_bytes(b"shipped")
    assert judged_on(weights / "rcan-x4-photo.pth") == Judgement("medium", weights / "rcan-x4-photo.pth")


def test_a_new_model_that_does_not_beat_its_baseline_is_not_shipped(tmp_path):
    dataset = hr_folder(tmp_path)
    score = set5_psnr(dataset, degradation="medium")
    a, b = save_checkpoint(tiny(0.0), tmp_path / "a.pth"), save_checkpoint(tiny(3.0), tmp_path / "b.pth")
    better, worse = (a, b) if score(a) > score(b) else (b, a)
    assert score(better) != set5_psnr(dataset)(better)  # the degraded benchmark is another benchmark
    target = tmp_path / "new-photo.pth"
    refused = promote_if_better(worse, target, score, baseline=better)
    assert not refused.promoted and not target.exists() and refused.before == score(better)
    shipped = promote_if_better(better, target, score, baseline=worse)
    assert shipped.promoted and target.read_bytes() == better.read_bytes()
