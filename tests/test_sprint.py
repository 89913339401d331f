"""Sprints (srapp.sprint): recipes, resident patches, the time-boxed cycle, what travels, promotion."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import srapp
from srapp.batch import benchmark
from srapp.engine.image_io import read_image, write_image
from srapp.errors import UsageError
from srapp.sprint import load_recipe, recipe_from_dict, run_sprint
from srapp.sprint import loop
from srapp.sprint.__main__ import main as sprint_main
from srapp.sprint.loop import ExponentialAverage, learning_rate, smallest_sufficient_batch
from srapp.sprint.patches import PatchSampler, dihedral
from srapp.sprint.travel import travelling_bytes
from synthetic import natural_image

REPOSITORY = Path(__file__).resolve().parents[1]
TINY = {"scale": 2, "attention": "ca", "num_groups": 2, "num_blocks": 1, "channels": 8, "reduction": 4}


def tiny_recipe(**changes):
    values = {"name": "tiny", "arch": "RCAN", "config": TINY, "train_sets": ["train"], "validation_set": "val",
              "seconds": 2, "batch": [2, 4], "patch": 8, "eval_seconds": 1, "compile": False, "warmup_iterations": 2,
              "ema_decay": 0.9, "precision": "fp32", "lr": 1e-3}
    values.update(changes)
    return recipe_from_dict(values, "tiny.yml")


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    for index in range(3):
        write_image(root / "train" / f"t{index}.webp", natural_image(40, 48, index))
    write_image(root / "train" / "too_small.webp", natural_image(10, 12, 9))  # LR 5x6: no 8-pixel patch
    for index in range(2):
        write_image(root / "val" / f"v{index}.png", natural_image(24, 32, 10 + index))
    return root


# Recipes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted((REPOSITORY / "options" / "sprint").glob("*.yml")), ids=lambda p: p.name)
def test_shipped_recipes_load_and_their_init_files_fit(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    if recipe.init:  # the shipped file it starts from has the recipe's network
        network = loop.build_network(recipe, torch.device("cpu"))
        assert network.scale == srapp.load_model(REPOSITORY / recipe.init).scale == recipe.scale


@pytest.mark.parametrize("change, key", [
    ({"batchsize": 4}, "batchsize"),
    ({"batch": [4, "8"]}, "batch"),
    ({"compile": "yes"}, "compile"),
    ({"arch": "EDSR"}, "arch"),
    ({"config": {"scale": 4, "num_grups": 2}}, "config"),
    ({"precision": "fp8"}, "precision"),
    ({"seconds": 0}, "seconds"),
    ({"ema_decay": 1.0}, "ema_decay"),
    ({"patch": 8.5}, "patch"),
])
def test_a_bad_recipe_names_the_file_and_the_key(change, key):
    with pytest.raises(UsageError, match=rf"tiny\.yml: {key}:"):
        tiny_recipe(**change)


def test_a_recipe_reads_back_from_its_dict():
    recipe = tiny_recipe(batch=[8, 2], betas=[0.8, 0.9])
    assert recipe.batch == (2, 8) and recipe_from_dict(recipe.as_dict(), "tiny.yml") == recipe


def test_a_recipe_needs_name_arch_and_config():
    with pytest.raises(UsageError, match="r.yml: config: missing"):
        recipe_from_dict({"name": "x", "arch": "RCAN"}, "r.yml")


def test_learning_rate_is_a_cosine_in_progress_after_a_linear_warmup():
    assert learning_rate(1.0, 0.0, 0.0, 10, 0) == 1.0
    assert learning_rate(1.0, 0.2, 0.5, 10, 0) == pytest.approx(0.6)
    assert learning_rate(1.0, 0.2, 1.0, 10, 0) == pytest.approx(0.2)
    assert learning_rate(1.0, 0.2, 2.0, 10, 0) == pytest.approx(0.2)  # past the end: the floor
    assert learning_rate(1.0, 0.0, 0.0, 0, 4) == pytest.approx(0.25)
    assert learning_rate(1.0, 0.0, 0.25, 3, 4) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert tiny_recipe(lr=1e-4).lr_for(64) == pytest.approx(2e-4)  # square-root scaling from batch 16


def test_the_smallest_batch_near_the_best_throughput_is_chosen():
    assert smallest_sufficient_batch({16: 1000.0, 32: 1850.0, 64: 2000.0}) == 32  # 1850 >= 0.9 * 2000
    assert smallest_sufficient_batch({16: 1000.0, 32: 1700.0, 64: 2000.0}) == 64
    assert smallest_sufficient_batch({16: 1000.0, 32: None}) == 16  # None: out of memory
    with pytest.raises(UsageError, match="no candidate"):
        smallest_sufficient_batch({16: None})


# Patches ----------------------------------------------------------------------------------------

def test_dihedral_gives_the_eight_symmetries_numpy_does():
    image = torch.arange(2 * 3 * 4).reshape(2, 3, 4)
    expected = [np.rot90(image.numpy(), k, axes=(1, 2)) for k in range(4)]
    expected += [np.flip(e, axis=2) for e in expected]
    results = [dihedral(image, t).numpy() for t in range(8)]
    for result, reference in zip(results, expected):
        np.testing.assert_array_equal(result, reference)
    assert len({r.tobytes() + bytes(r.shape) for r in results}) == 8


def test_patches_are_aligned_windows_under_the_same_symmetry():
    # HR = LR with every pixel repeated s x s, so an aligned HR patch subsampled by s is the LR patch
    # whatever the window and the symmetry; a misaligned or differently turned one is not.
    rng = np.random.default_rng(0)
    scale, pairs = 3, []
    for height, width in ((12, 20), (30, 9)):
        lr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        pairs.append((np.kron(lr, np.ones((scale, scale, 1), np.uint8)), lr))
    sampler = PatchSampler(pairs, scale, patch=6, device=torch.device("cpu"), seed=1)
    lq, gt = sampler.sample(64)
    assert lq.shape == (64, 3, 6, 6) and gt.shape == (64, 3, 18, 18)
    assert 0.0 <= float(lq.min()) and float(lq.max()) <= 1.0
    torch.testing.assert_close(gt[:, :, ::scale, ::scale], lq, rtol=0, atol=0)
    assert len({bytes(p.numpy().tobytes()) for p in lq}) > 32  # windows and symmetries vary


def test_a_batch_is_the_naive_crop_of_each_draw_under_its_symmetry():
    rng = np.random.default_rng(3)
    scale, patch = 2, 5
    pairs = []
    for height, width in ((7, 16), (11, 6), (5, 5)):  # varied sizes: the stack is padded
        lr = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        pairs.append((rng.integers(0, 256, (height * scale, width * scale, 3), dtype=np.uint8), lr))
    sampler = PatchSampler(pairs, scale, patch, device=torch.device("cpu"), seed=2)
    draws = sampler.draw(48)
    lq, gt = sampler.cut(draws)
    assert lq.is_contiguous(memory_format=torch.channels_last)
    assert set(draws.transforms.tolist()) == set(range(8))
    for index, (image, row, col, transform) in enumerate(zip(*(t.tolist() for t in (
            draws.images, draws.rows, draws.cols, draws.transforms)))):
        hr, lr = (torch.from_numpy(a).permute(2, 0, 1) for a in pairs[image])
        assert 0 <= row <= lr.shape[1] - patch and 0 <= col <= lr.shape[2] - patch
        expected_lq = dihedral(lr[:, row:row + patch, col:col + patch], transform).float() / 255
        expected_gt = dihedral(hr[:, row * scale:(row + patch) * scale, col * scale:(col + patch) * scale],
                               transform).float() / 255
        torch.testing.assert_close(lq[index], expected_lq, rtol=0, atol=0)
        torch.testing.assert_close(gt[index], expected_gt, rtol=0, atol=0)


def test_images_are_drawn_in_proportion_to_their_patch_positions():
    pairs = [(np.zeros((2 * s, 2 * s, 3), np.uint8) + i, np.zeros((s, s, 3), np.uint8) + i)
             for i, s in enumerate((5, 13))]  # 1 and 81 positions of a 5-pixel patch
    lq, _ = PatchSampler(pairs, 2, patch=5, device=torch.device("cpu"), seed=0).sample(4000)
    share = float((lq[:, 0, 0, 0] * 255).round().eq(0).float().mean())
    assert share == pytest.approx(1 / 82, abs=0.008)


# The loop ---------------------------------------------------------------------------------------

def test_the_average_follows_the_warmed_up_decay():
    network = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        network.weight.fill_(0.0)
    average = ExponentialAverage(network, decay=0.5)
    expected = 0.0
    for step in range(1, 6):
        with torch.no_grad():
            network.weight.fill_(float(step))
        average.update()
        decay = min(0.5, step / (9 + step))  # (1 + t) / (10 + t) with t = step - 1
        expected = decay * expected + (1 - decay) * step
    torch.testing.assert_close(average.model.weight, torch.full((1, 2), expected))


def test_a_sprint_trains_and_leaves_scored_int8_weights(pack, tmp_path):
    lines = []
    report = run_sprint(tiny_recipe(), pack, tmp_path / "out", device="cpu", log=lines.append)
    assert report.iterations > 1 and 2.0 <= report.seconds < 4.0
    assert 0 < report.scoring_seconds < report.seconds  # evaluations every second of a 2 s cycle
    assert report.iterations_per_second == pytest.approx(
        report.iterations / (report.seconds - report.scoring_seconds), rel=0.01)
    assert report.patches_per_second == pytest.approx(report.iterations_per_second * report.batch, rel=0.01)
    assert report.batch in (2, 4) and set(report.batch_probe) == {2, 4}
    assert len(report.skipped_images) == 1 and "too_small" in report.skipped_images[0]
    # How many evaluations fit the budget depends on the machine's load; each point is a new iteration.
    iterations = [point.iteration for point in report.curve]
    assert iterations and iterations == sorted(set(iterations)) and iterations[-1] == report.iterations
    assert all(math.isfinite(point.loss) for point in report.curve)
    checkpoint = tmp_path / "out" / "tiny.pth"
    loaded = srapp.load_model(checkpoint)
    assert dict(loaded.network.config) == dict(srapp.RCAN(**TINY).config)
    # The final figure is srapp's benchmark of the written file.
    upscaler = srapp.Upscaler(checkpoint, device="cpu", backend="torch", precision="fp32")
    scored = benchmark(upscaler, pack / "val", with_lpips=False).mean()["psnr"]
    assert report.final_psnr_int8 == pytest.approx(scored, abs=5e-5)  # reported to 4 decimals
    assert abs(report.final_psnr_int8 - report.final_psnr_fp32) < 0.1
    saved = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert saved["iterations"] == report.iterations and saved["checkpoint"] == "tiny.pth"
    assert saved["recipe_file"] == "tiny.yml" and saved["recipe"]["config"] == TINY
    assert any("skipped" in line for line in lines)
    # Its curve draws: one panel per report.
    assert sprint_main(["plot", str(tmp_path / "out" / "tiny.json"), str(tmp_path / "out" / "tiny.json"),
                        str(tmp_path / "out" / "tiny.json"), "-o", str(tmp_path / "curves.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "curves.png") as chart:
        assert chart.format == "PNG" and chart.size == (2 * 560, 2 * 400)
        pixels = np.asarray(chart.convert("RGB"))
    assert (pixels == (30, 70, 160)).all(axis=2).sum() > 20  # the curve's colour is drawn


def test_a_sprint_whose_scoring_fails_still_leaves_its_weights(pack, tmp_path, monkeypatch):
    def broken(model, folder, device):
        raise RuntimeError("no kernel for this")

    monkeypatch.setattr(loop, "mean_psnr", broken)
    lines = []
    report = run_sprint(tiny_recipe(seconds=0.5, eval_seconds=10, batch=2), pack, tmp_path / "out", device="cpu",
                        log=lines.append)
    assert report.final_psnr_fp32 is None and report.final_psnr_int8 is None
    assert len(report.scoring_errors) == 2 and "no kernel for this" in report.scoring_errors[0]
    assert srapp.load_model(tmp_path / "out" / "tiny.pth").scale == 2
    assert any("(not scored)" in line for line in lines)


def test_a_cycle_that_ends_on_an_evaluation_records_no_empty_point(pack, tmp_path, monkeypatch):
    # The first evaluation outlasts the budget, so the loop ends right after it with no step since:
    # the run once appended a second point for the same iteration, with the mean of no losses (NaN).
    scored = loop.mean_psnr

    def slow_once(model, folder, device):
        if not slow_once.waited:
            slow_once.waited = True
            time.sleep(0.6)
        return scored(model, folder, device)

    slow_once.waited = False
    monkeypatch.setattr(loop, "mean_psnr", slow_once)
    report = run_sprint(tiny_recipe(seconds=0.5, eval_seconds=0.001, batch=2), pack, tmp_path / "out",
                        device="cpu", log=lambda line: None)
    assert slow_once.waited and len(report.curve) == 1
    (point,) = report.curve
    assert math.isfinite(point.loss) and point.iteration == report.iterations
    assert report.final_psnr_fp32 == point.psnr is not None
    assert json.loads((tmp_path / "out" / "tiny.json").read_text())["curve"][0]["loss"] == point.loss


def test_a_sprint_shortens_its_cycle_to_end_within_the_call_limit(pack, tmp_path):
    lines = []
    report = run_sprint(tiny_recipe(seconds=30, eval_seconds=100, batch=2), pack, tmp_path / "out", device="cpu",
                        finish_within=loop.FINISH_RESERVE_SECONDS + 1.5, log=lines.append)
    assert 0 < report.budget_seconds < 1.5 and report.seconds < 2.5
    assert any("the cycle is shortened from 30 s" in line for line in lines)


def test_a_sprint_warm_starts_from_its_init_checkpoint(pack, tmp_path):
    start = srapp.RCAN(**TINY)
    srapp.save_checkpoint(start, tmp_path / "start.pth")
    report = run_sprint(tiny_recipe(init=str(tmp_path / "start.pth"), seconds=0.5, eval_seconds=10, batch=2),
                        pack, tmp_path / "out", device="cpu", log=lambda line: None)
    reference = srapp.Upscaler(tmp_path / "start.pth", device="cpu", backend="torch", precision="fp32")
    assert report.init_psnr == pytest.approx(benchmark(reference, pack / "val", with_lpips=False).mean()["psnr"],
                                             abs=5e-5)
    other = dict(TINY, channels=16)
    with pytest.raises(UsageError, match="start.pth is a RCAN"):
        run_sprint(tiny_recipe(init=str(tmp_path / "start.pth"), config=other), pack, tmp_path / "out",
                   device="cpu", log=lambda line: None)


def test_compiled_groups_train_and_a_failing_compiler_falls_back_to_eager(pack, tmp_path, monkeypatch):
    compiled = run_sprint(tiny_recipe(compile=True, seconds=0.5, eval_seconds=10, batch=2), pack,
                          tmp_path / "compiled", device="cpu", log=lambda line: None)
    assert compiled.compiled and compiled.compile_note is None and compiled.iterations > 1

    def failing_backend(graph, example_inputs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(loop, "COMPILE_BACKEND", failing_backend)
    lines = []
    eager = run_sprint(tiny_recipe(compile=True, seconds=0.5, eval_seconds=10, batch=2), pack,
                       tmp_path / "eager", device="cpu", log=lines.append)
    assert not eager.compiled and "no compiler here" in eager.compile_note and eager.iterations > 1
    assert any("training eagerly" in line for line in lines)


def test_the_command_line_reports_usage_errors_with_the_file(tmp_path, capsys):
    recipe = tmp_path / "bad.yml"
    recipe.write_text("name: x\narch: RCAN\nconfig: {scale: 4}\nbatchsize: 4\n")
    assert sprint_main(["run", str(recipe), "--pack", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "bad.yml: batchsize: unknown key" in capsys.readouterr().err
    good = tmp_path / "good.yml"
    good.write_text("name: x\narch: RCAN\nconfig: {scale: 2, num_groups: 1, num_blocks: 1, channels: 8}\n")
    assert sprint_main(["run", str(good), "--pack", str(tmp_path), "--out", str(tmp_path / "o"),
                        "--device", "cpu"]) == 2
    assert "no validation set 'Set5' in the pack" in capsys.readouterr().err


def test_a_sprint_imports_nothing_a_lent_machine_lacks():
    # The GPU machine has PyTorch, NumPy, OpenCV, Pillow and PyYAML, but no BasicSR, OpenVINO or Gradio.
    code = ("import sys, srapp.sprint.__main__, srapp.sprint.loop; "
            "print(sorted(m for m in ('basicsr', 'openvino', 'gradio', 'onnxruntime', 'spandrel') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPOSITORY)
    assert result.stdout.strip() == "[]"


def test_the_prepared_gpu_run_is_valid_bash_and_names_existing_recipes():
    script = REPOSITORY / "srapp" / "sprint" / "lent_gpu.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    shared = re.search(r"^shared=\((.*)\)$", text, re.M).group(1).split()
    alone = re.findall(r"^sprint (\w+) ", text, re.M)
    assert alone == ["rcan_x4_paper"] and len(shared) == 4
    for name in alone + shared:
        assert load_recipe(REPOSITORY / "options" / "sprint" / f"{name}.yml").name == name
    # What comes back: one file per sprint's weights and one archive, within the call's 8 files.
    assert len(alone + shared) + 1 <= 8


# What travels -----------------------------------------------------------------------------------

def test_travelling_bytes_count_what_git_sees_and_the_carried_paths(tmp_path):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (tmp_path / "tracked.txt").write_bytes(b"x" * 1000)
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "start")
    (tmp_path / "untracked.txt").write_bytes(b"y" * 300)
    (tmp_path / "ignored" / "pack").mkdir(parents=True)
    (tmp_path / "ignored" / "pack" / "a.webp").write_bytes(b"z" * 5000)
    (tmp_path / "ignored" / "other.bin").write_bytes(b"w" * 70000)
    gitignore = (tmp_path / ".gitignore").stat().st_size
    assert travelling_bytes(tmp_path) == 1000 + 300 + gitignore
    assert travelling_bytes(tmp_path, ["ignored/pack"]) == 1000 + 300 + gitignore + 5000
    with pytest.raises(UsageError, match="does not exist"):
        travelling_bytes(tmp_path, ["ignored/missing"])


# Promotion --------------------------------------------------------------------------------------

def test_promote_ships_a_sprint_only_when_it_beats_the_shipped_file(pack, tmp_path):
    from srapp.training.__main__ import main as training_main

    out = tmp_path / "out"
    run_sprint(tiny_recipe(seconds=1.0, eval_seconds=10, batch=4), pack, out, device="cpu", log=lambda line: None)
    untrained = srapp.RCAN(**TINY)
    with torch.no_grad():
        for parameter in untrained.parameters():
            parameter.zero_()
        untrained.tail.bias.fill_(-255.0)  # a black image: far below even a few iterations from random weights
    target, history = tmp_path / "weights" / "tiny.pth", tmp_path / "weights" / "training_history.json"
    srapp.save_checkpoint(untrained, target)
    from srapp.training import promote

    record = promote.promote_sprint(out / "tiny.json", target, pack / "val", history)
    assert record.promoted and target.read_bytes() == (out / "tiny.pth").read_bytes()
    saved = json.loads((out / "tiny.json").read_text())
    assert (record.stage, record.iterations, record.options) == ("tiny", saved["iterations"], "tiny.yml")
    assert json.loads(history.read_text())[-1]["promoted"] is True
    # The same weights again are not better than themselves: nothing changes but the record.
    assert training_main(["promote", str(out / "tiny.json"), "--weights", str(target), "--dataset",
                          str(pack / "val"), "--history", str(history)]) == 0
    assert target.read_bytes() == (out / "tiny.pth").read_bytes()
    assert [entry["promoted"] for entry in json.loads(history.read_text())] == [True, False]
