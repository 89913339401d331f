"""Training through BasicSR against a wall-clock budget: the resident patch dataset, the time-cosine
schedule and the end of the loop it brings, BasicSR's EMA, resume, the scored curve, and promotion.

Every run is a tiny RCAN on generated images, on the CPU, for a second or two.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import srapp
from srapp.io.image_io import write_image
from srapp.engine.resize import imresize
from synthetic import natural_image

training = pytest.importorskip("srapp.training")

from srapp.training import time_budget  # noqa: E402
from srapp.training.curve import Curve  # noqa: E402
from srapp.training.promote import promote_experiment  # noqa: E402
from srapp.training.resident_pairs import SrappResidentPairedDataset, allowed_symmetries, dihedral  # noqa: E402
from srapp.training.time_budget import CosineAnnealingTimeLR  # noqa: E402
from srapp.batch.pack import pack_images  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = {"type": "SrappRCAN", "scale": 2, "num_groups": 1, "num_blocks": 1, "channels": 8, "reduction": 4}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("images")
    for index in range(3):
        write_image(root / "train_a" / f"a{index}.png", natural_image(40 + 8 * index, 48, index))
    write_image(root / "train_b" / "b0.png", natural_image(36, 30, 5))
    write_image(root / "train_b" / "too_small.png", natural_image(10, 12, 9))  # LR 5x6: no 16-pixel HR patch
    for index in range(2):
        write_image(root / "val" / f"v{index}.png", natural_image(24, 32, 10 + index))
    return {name: root / name for name in ("train_a", "train_b", "val")}


def dataset_options(images, **changes) -> dict:
    return {"name": "tiny_train", "type": "SrappResidentPairedDataset", "phase": "train", "scale": 2,
            "dataroot_gt": str(images["train_a"].parent), "subfolders": ["train_a", "train_b"], "gt_size": 16, "use_hflip": True,
            "use_rot": True, "device": "cpu", **changes}


# The resident dataset ---------------------------------------------------------------------------

def test_dihedral_gives_the_eight_symmetries_numpy_does():
    image = torch.arange(2 * 3 * 4).reshape(2, 3, 4)
    expected = [np.rot90(image.numpy(), k, axes=(1, 2)) for k in range(4)]
    expected += [np.flip(e, axis=2) for e in expected]
    results = [dihedral(image, t).numpy() for t in range(8)]
    for result, reference in zip(results, expected):
        np.testing.assert_array_equal(result, reference)
    assert len({r.tobytes() + bytes(r.shape) for r in results}) == 8


def test_flips_and_turns_follow_basicsr_options():
    assert allowed_symmetries(True, True).tolist() == list(range(8))
    assert allowed_symmetries(False, True).tolist() == [0, 1, 2, 3]
    assert allowed_symmetries(True, False).tolist() == [0, 4]
    assert allowed_symmetries(False, False).tolist() == [0]


def test_a_batch_is_the_naive_crop_of_each_draw_under_its_symmetry(images):
    dataset = SrappResidentPairedDataset(dataset_options(images))
    assert len(dataset) == 4 and len(dataset.skipped) == 1 and "too_small" in dataset.skipped[0]
    torch.manual_seed(0)
    draws = dataset.draw(list(range(64)))
    lq, gt = dataset.cut(draws)
    assert set(draws.transforms.tolist()) == set(range(8))
    assert draws.images.tolist() == [index % 4 for index in range(64)]
    for index, (image, row, col, transform) in enumerate(zip(*(t.tolist() for t in (
            draws.images, draws.rows, draws.cols, draws.transforms)))):
        # naive: read the file, mod-crop, MATLAB bicubic of the whole image, crop, turn
        hr_image = srapp.io.image_io.read_image(dataset.paths[image])
        hr_image = hr_image[:hr_image.shape[0] // 2 * 2, :hr_image.shape[1] // 2 * 2]
        lr_image = imresize(hr_image, scale=0.5)
        hr, lr = (torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1) for a in (hr_image, lr_image))
        assert 0 <= row <= lr.shape[1] - 8 and 0 <= col <= lr.shape[2] - 8
        expected_lq = dihedral(lr[:, row:row + 8, col:col + 8], transform).float() / 255
        expected_gt = dihedral(hr[:, 2 * row:2 * row + 16, 2 * col:2 * col + 16], transform).float() / 255
        torch.testing.assert_close(lq[index], expected_lq, rtol=0, atol=0)
        torch.testing.assert_close(gt[index], expected_gt, rtol=0, atol=0)
    # what the data loader gets is the same cut of the same draws
    torch.manual_seed(0)
    items = dataset.__getitems__(list(range(64)))
    torch.testing.assert_close(torch.stack([item["lq"] for item in items]), lq, rtol=0, atol=0)
    assert items[1]["gt_path"] == dataset.paths[1]


def test_packed_webp_folders_give_the_same_pairs(images, tmp_path):
    report = pack_images([images["train_a"], images["train_b"]], tmp_path / "pack")
    assert len(report.written) == 5 and not report.failed
    packed = SrappResidentPairedDataset(dataset_options(images, dataroot_gt=str(tmp_path / "pack")))
    plain = SrappResidentPairedDataset(dataset_options(images))
    assert torch.equal(packed.hr, plain.hr) and torch.equal(packed.lr, plain.lr)


def test_the_dataset_refuses_what_it_cannot_serve(images):
    with pytest.raises(ValueError, match="gt_size 15 is not a multiple of the scale 2"):
        SrappResidentPairedDataset(dataset_options(images, gt_size=15))
    with pytest.raises(ValueError, match="no training image offers a 40-pixel LR patch"):
        SrappResidentPairedDataset(dataset_options(images, gt_size=80))
    with pytest.raises(ValueError, match="no such folder"):
        SrappResidentPairedDataset(dataset_options(images, subfolders=["train_a", "missing"]))


# The schedule -----------------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_the_rate_is_a_cosine_in_training_time_from_the_first_step(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = CosineAnnealingTimeLR(optimizer, seconds=100, eta_min=0.2)
    clock.now += 50  # before the first step (the first iteration): not counted
    assert scheduler.get_last_lr() == [1.0] and not scheduler.spent
    scheduler.step()
    clock.now += 50
    scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.6) and not scheduler.spent
    clock.now += 25
    scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.2 + 0.8 * 0.5 * (1 + math.cos(0.75 * math.pi)))
    state = scheduler.state_dict()
    assert state["trained"] == pytest.approx(75) and "_clock_started" not in state
    clock.now += 25
    assert scheduler.spent

    # resumed: the cycle goes on from the recorded 75 s, as the new run's options state it
    resumed = CosineAnnealingTimeLR(torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0), seconds=100,
                                    eta_min=0.2)
    resumed.load_state_dict(state)
    clock.now += 1000  # loading and the first iteration again: not counted
    resumed.step()
    assert resumed.elapsed() == pytest.approx(75) and not resumed.spent
    clock.now += 25
    resumed.step()
    assert resumed.get_last_lr()[0] == pytest.approx(0.2) and resumed.spent


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_finish_within_shortens_the_cycle_to_end_before_the_limit(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(time_budget.time, "monotonic", clock)
    time_budget.mark_run_start()
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    reserve = time_budget.FINISH_RESERVE_SECONDS
    scheduler = CosineAnnealingTimeLR(optimizer, seconds=100, finish_within=reserve + 60)
    clock.now += 20  # loading data, building the model, the first iteration
    scheduler.step()
    assert scheduler.cycle == pytest.approx(40)
    clock.now += 20
    scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.5)  # half way through the shortened cycle
    with pytest.raises(ValueError, match="finish_within must exceed"):
        CosineAnnealingTimeLR(optimizer, seconds=100, finish_within=reserve)


# Runs through BasicSR ---------------------------------------------------------------------------

def run_options(images, name: str, **train) -> dict:
    return {
        "name": name, "model_type": "SrappSRModel", "precision": "fp32", "scale": 2, "num_gpu": 0,
        "manual_seed": 0,
        "datasets": {
            "train": {**{k: v for k, v in dataset_options(images).items() if k not in ("phase", "scale")},
                      "num_worker_per_gpu": 0, "batch_size_per_gpu": 2, "use_shuffle": True,
                      "dataset_enlarge_ratio": 50},
            "val": {"name": "val", "type": "SrappBicubicPairedDataset", "dataroot_gt": str(images["val"])},
        },
        "network_g": dict(TINY),
        "path": {"pretrain_network_g": train.pop("pretrain", None), "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": train.pop("ema_decay", 0.9),
            "optim_g": {"type": "Adam", "lr": 1e-3, "betas": [0.9, 0.99]},
            "scheduler": train.pop("scheduler", {"type": "CosineAnnealingTimeLR", "seconds": 1.5, "eta_min": 1e-6}),
            "total_iter": train.pop("total_iter", 1000000), "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "val": {"val_freq": train.pop("val_freq", 10), "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True}}},
        "logger": {"print_freq": 10, "save_checkpoint_freq": train.pop("save_freq", 1000), "use_tb_logger": False},
    }


def write_options(path: Path, options: dict) -> Path:
    path.write_text(yaml.safe_dump(options, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def budgeted(images, tmp_path_factory) -> dict:
    """1.5 s of training, validated every 2 iterations."""
    root = tmp_path_factory.mktemp("budget")
    experiment = training.train(write_options(root / "budget.yml", run_options(images, "budget", val_freq=2)),
                                root=root)
    return {"root": root, "experiment": experiment, "log": next(experiment.glob("train_budget_*.log")).read_text()}


def test_a_time_budget_ends_the_basicsr_run_on_time(budgeted):
    curve = Curve.read(budgeted["experiment"] / "curve.json")
    assert curve.seconds == 1.5 and curve.iterations >= 2  # the clock stops with the cycle
    log = budgeted["log"]
    assert "End of training." in log and "Save the latest model." in log
    assert (budgeted["experiment"] / "models" / "net_g_latest.pth").is_file()
    # every 2 iterations and after the last one, the EMA weights' score
    iterations = [point.iteration for point in curve.points]
    assert iterations == sorted({*range(2, curve.iterations + 1, 2), curve.iterations})
    assert all(point.dataset == "val" and 5 < point.metrics["psnr"] < 60 for point in curve.points)
    seconds = [point.seconds for point in curve.points]
    rates = [point.lr for point in curve.points]
    assert seconds == sorted(seconds) and rates == sorted(rates, reverse=True)
    for second, rate in zip(seconds[:-2], rates[:-2]):  # the rate each iteration started with, in its time
        assert rate >= 1e-6 + (1e-3 - 1e-6) * 0.5 * (1 + math.cos(math.pi * second / 1.5)) - 1e-9
    logged = [float(value) for value in re.findall(r"# psnr: ([\d.]+)", log)]
    # the log's figures, each validation once (a run ending just after one validates those weights again)
    assert len(logged) in (len(curve.points), len(curve.points) + 1)
    assert logged[:len(curve.points)] == pytest.approx([point.metrics["psnr"] for point in curve.points], abs=1e-4)


def test_promotion_ships_a_run_only_when_it_beats_the_shipped_file(budgeted, images, tmp_path):
    from srapp.training.__main__ import main as training_main

    black = srapp.RCAN(**{k: v for k, v in TINY.items() if k != "type"})
    with torch.no_grad():
        for parameter in black.parameters():
            parameter.zero_()
        black.tail.bias.fill_(-255.0)  # a black image: below even a second of training from random weights
    target, history = tmp_path / "weights" / "tiny.pth", tmp_path / "weights" / "training_history.json"
    srapp.save_checkpoint(black, target)
    record = promote_experiment(budgeted["experiment"], target, images["val"], history)
    curve = Curve.read(budgeted["experiment"] / "curve.json")
    assert record.promoted and record.set5_after > record.set5_before
    assert (record.stage, record.iterations, record.options) == ("budget", curve.iterations, "budget.yml")
    # the shipped file is the int8 export of the run's EMA weights
    shipped = torch.load(target, weights_only=True)
    assert shipped["int8_params"] and srapp.load_model(target).scale == 2
    # the same weights again are not better than themselves: nothing changes but the record
    before = target.read_bytes()
    assert training_main(["promote", str(budgeted["experiment"]), "--weights", str(target), "--dataset",
                          str(images["val"]), "--history", str(history)]) == 0
    assert target.read_bytes() == before
    assert [entry["promoted"] for entry in json.loads(history.read_text())] == [True, False]


def test_basicsr_ema_is_the_decayed_average_of_each_step(images, tmp_path):
    start = srapp.RCAN(**{k: v for k, v in TINY.items() if k != "type"})
    srapp.save_checkpoint(start, tmp_path / "start.pth")
    options = run_options(images, "ema", ema_decay=0.75, total_iter=3, save_freq=1, val_freq=100,
                          pretrain=str(tmp_path / "start.pth"),
                          scheduler={"type": "CosineAnnealingTimeLR", "seconds": 60})
    experiment = training.train(write_options(tmp_path / "ema.yml", options), root=tmp_path)
    saved = [torch.load(experiment / "models" / f"net_g_{i}.pth", weights_only=True) for i in (1, 2, 3)]
    average = start.state_dict()
    for step in saved:
        average = {key: 0.75 * average[key] + 0.25 * step["params"][key] for key in average}
        for key, value in step["params_ema"].items():
            torch.testing.assert_close(value, average[key], rtol=1e-6, atol=1e-7)
    assert any(not torch.equal(saved[2]["params"][k], saved[2]["params_ema"][k]) for k in average)


def test_a_resumed_budget_goes_on_from_the_training_time_it_recorded(images, tmp_path):
    options = run_options(images, "resumed", total_iter=6, save_freq=3, val_freq=3,
                          scheduler={"type": "CosineAnnealingTimeLR", "seconds": 2.0})
    path = write_options(tmp_path / "resumed.yml", options)
    experiment = training.train(path, root=tmp_path)  # stopped by total_iter, well before the 2 s cycle
    state = training.load_training_state(experiment / "training_states" / "6.state")
    trained = state["schedulers"][0]["trained"]
    assert 0 < trained < 2.0
    first = Curve.read(experiment / "curve.json")
    assert [point.iteration for point in first.points] == [3, 6]  # 6 validated twice, recorded once

    options["train"]["total_iter"] = 1000000
    write_options(path, options)
    training.train(path, auto_resume=True, root=tmp_path)
    log = max(experiment.glob("train_resumed_*.log"), key=lambda p: p.stat().st_mtime).read_text()
    assert re.search(r"Resuming training from epoch: \d+, iter: 6\.", log) and "End of training." in log
    curve = Curve.read(experiment / "curve.json")
    assert curve.points[:2] == first.points  # kept
    later = curve.points[2:]
    assert later and all(point.iteration > 6 and point.seconds >= trained for point in later)
    assert curve.seconds == 2.0  # the 2 s cycle, counted over both runs


def test_budget_options_are_checked_before_training(images, tmp_path):
    options = run_options(images, "bad")
    options["datasets"]["train"]["num_worker_per_gpu"] = 2
    options["datasets"]["val"]["subfolders"] = ["val"]
    options["datasets"]["train"]["subfolders"] = ["train_a", "missing"]
    options["train"]["scheduler"]["second"] = 3
    options["model_type"] = "SRModel"
    options.pop("precision")
    path = write_options(tmp_path / "bad.yml", options)
    with pytest.raises(training.OptionsError) as error:
        training.train(path, root=tmp_path)
    message = str(error.value)
    assert f"{path}: datasets.train.num_worker_per_gpu: must be 0" in message
    assert f"{path}: datasets.val.subfolders: is read by SrappResidentPairedDataset only" in message
    assert f"{path}: datasets.train.subfolders: no such folder: {images['train_a'].parent / 'missing'}" in message
    assert f"{path}: train.scheduler.second: unknown key (did you mean 'seconds'?)" in message
    assert f"{path}: train.scheduler.type: CosineAnnealingTimeLR is built by model_type SrappSRModel only" in message
    assert not (tmp_path / "experiments").exists()


# The prepared GPU run ---------------------------------------------------------------------------

def test_the_prepared_gpu_run_is_valid_bash_and_names_existing_option_files():
    script = REPO / "scripts" / "gpu_run.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    alone = re.search(r"^runs_alone=\((.*)\)$", text, re.M).group(1).split()
    shared = re.search(r"^runs_shared=\((.*)\)$", text, re.M).group(1).split()
    photo = re.search(r"^photo_runs=\((.*)\)  #", text, re.M).group(1).split()
    assert len(alone) == 1 and len(shared) == 4 and len(photo) == 2
    assert len(alone + shared) + 1 <= 8  # one tar per run and machine.txt: a call returns at most 8 files
    for name in alone + shared + photo:
        opt = training.option_files.load_yaml(REPO / "options" / "train" / f"{name}.yml")
        assert opt["name"] == name and opt["train"]["scheduler"]["type"] == "CosineAnnealingTimeLR"
    for name in photo:  # fine-tuned from the shipped photo file, judged on the photo benchmark
        opt = training.option_files.load_yaml(REPO / "options" / "train" / f"{name}.yml")
        assert opt["datasets"]["train"]["type"] == "SrappDegradedDataset"
        assert opt["datasets"]["val"]["level"] == "medium"
        assert (REPO / opt["path"]["pretrain_network_g"]).is_file()
