"""Photo models' data and protocol (issue 24 items 2, 3): the SrappDegradedDataset that BasicSR
trains on, the training recipes, and ``srapp benchmark --degradation``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import srapp
from srapp.archs import RCAN
from srapp.cli import main as srapp_main
from srapp.io.image_io import read_image, write_image
from srapp.engine.resize import imresize
from srapp.metrics import psnr
from srapp.pixels import mod_crop
from synthetic import write_natural_images

training = pytest.importorskip("srapp.training")

from srapp.degradations import LEVELS, PHOTO, RECIPES, REAL_ESRGAN, degrade, image_seed  # noqa: E402
from srapp.training.degraded_pairs import SrappDegradedDataset  # noqa: E402

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hr")
    write_natural_images(folder, [(64, 72), (80, 64), (52, 60)])
    return folder


def _train_options(folder: Path, **changes) -> dict:
    return {"phase": "train", "scale": 4, "dataroot_gt": str(folder), "degradation": "photo", "gt_size": 48,
            "use_hflip": True, "use_rot": True, **changes}


# -- recipes --------------------------------------------------------------------------------------

def test_the_photo_recipe_covers_the_medium_level_and_keeps_clean_pairs():
    assert set(RECIPES) == {"photo", "real_esrgan"} and RECIPES["real_esrgan"] is REAL_ESRGAN
    assert PHOTO.clean_fraction == 0.25 and not PHOTO.sharpen_target
    medium = LEVELS["medium"]
    for stage in ("first", "second"):
        trained, evaluated = getattr(PHOTO, stage), getattr(medium, stage)
        for name in ("blur_sigma", "noise_range", "poisson_scale_range", "jpeg_range"):
            low, high = getattr(trained, name)
            assert low <= getattr(evaluated, name)[0] and getattr(evaluated, name)[1] <= high, (stage, name)
    # the published ranges are heavier than what the photo recipe draws
    assert REAL_ESRGAN.first.noise_range[1] > PHOTO.first.noise_range[1]


# -- the training dataset -------------------------------------------------------------------------

def test_training_items_are_crops_of_the_gt_size_with_lr_at_the_scale(hr_folder):
    np.random.seed(0)
    dataset = SrappDegradedDataset(_train_options(hr_folder))
    assert len(dataset) == 3
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["gt"].shape == (3, 48, 48) and item["lq"].shape == (3, 12, 12)
        assert item["lq"].dtype == item["gt"].dtype == torch.float32
        assert 0 <= float(item["lq"].min()) and float(item["lq"].max()) <= 1
        # the LR ends on the 8-bit grid, as a decoded photo does
        levels = item["lq"].numpy() * 255
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)


def test_training_draws_follow_numpys_seed(hr_folder):
    dataset = SrappDegradedDataset(_train_options(hr_folder))
    np.random.seed(5)
    first = [dataset[0]["lq"] for _ in range(3)]
    np.random.seed(5)
    again = [dataset[0]["lq"] for _ in range(3)]
    for a, b in zip(first, again):
        assert (a == b).all()
    assert not (first[0] == first[1]).all()  # a new draw each time


def test_clean_pairs_are_matlab_bicubic_reductions_of_the_crop(hr_folder):
    dataset = SrappDegradedDataset(_train_options(hr_folder, clean_fraction=1.0, use_hflip=False, use_rot=False))
    assert dataset.config.clean_fraction == 1.0 and PHOTO.clean_fraction == 0.25  # the recipe itself unchanged
    np.random.seed(1)
    item = dataset[1]
    gt = item["gt"].permute(1, 2, 0).numpy()
    expected = np.round(imresize(gt * 255, scale=0.25).clip(0, 255)) / 255  # an independent reduction
    np.testing.assert_allclose(item["lq"].permute(1, 2, 0).numpy(), expected, atol=1 / 255 + 1e-6)
    # and the crop is a crop of the HR image
    hr = read_image(sorted(hr_folder.iterdir())[1]).astype(np.float32) / 255
    gt8 = np.round(gt * 255).astype(np.uint8)
    hits = [(y, x) for y in range(hr.shape[0] - 47) for x in range(hr.shape[1] - 47)
            if np.array_equal(np.round(hr[y:y + 48, x:x + 48] * 255).astype(np.uint8), gt8)]
    assert len(hits) == 1


def test_sharpened_targets_when_the_recipe_asks(hr_folder, monkeypatch):
    from basicsr.utils.img_process_util import usm_sharp

    sharpened = dataclasses.replace(PHOTO, sharpen_target=True, clean_fraction=1.0)
    monkeypatch.setitem(RECIPES, "sharp", sharpened)
    dataset = SrappDegradedDataset(_train_options(hr_folder, degradation="sharp", use_hflip=False, use_rot=False))
    plain = SrappDegradedDataset(_train_options(hr_folder, clean_fraction=1.0, use_hflip=False, use_rot=False))
    np.random.seed(3)
    sharp_item = dataset[0]
    np.random.seed(3)
    plain_item = plain[0]
    original = plain_item["gt"].permute(1, 2, 0).numpy()
    expected = np.clip(usm_sharp(original), 0, 1)
    np.testing.assert_allclose(sharp_item["gt"].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert not np.allclose(expected, original)


@pytest.mark.parametrize(("changes", "message"), [
    ({"degradation": "film"}, "unknown degradation 'film'"),
    ({"gt_size": 50}, "not a multiple of the scale 4"),
    ({"gt_size": 96}, "smaller than gt_size 96"),
])
def test_bad_training_options_are_refused_naming_the_problem(hr_folder, changes, message):
    with pytest.raises(ValueError, match=message):
        SrappDegradedDataset(_train_options(hr_folder, **changes))[0]


# -- the validation dataset and the benchmark share their pairs -------------------------------------

def test_validation_pairs_are_the_fixed_level_with_each_images_seed(hr_folder):
    dataset = SrappDegradedDataset({"phase": "val", "scale": 4, "dataroot_gt": str(hr_folder), "level": "heavy"})
    for index, path in enumerate(sorted(hr_folder.iterdir())):
        item = dataset[index]
        hr = mod_crop(read_image(path), 4)
        np.testing.assert_array_equal(np.round(item["gt"].permute(1, 2, 0).numpy() * 255), hr)
        lr = degrade(hr, 4, "heavy", image_seed(path.name))
        np.testing.assert_array_equal(np.round(item["lq"].permute(1, 2, 0).numpy() * 255), lr)
    with pytest.raises(ValueError, match="unknown level 'extreme'"):
        SrappDegradedDataset({"phase": "val", "scale": 4, "dataroot_gt": str(hr_folder), "level": "extreme"})


def test_image_seed_depends_on_the_file_name_only():
    assert image_seed("a/b/photo.png") == image_seed("photo.png") != image_seed("photo.jpg")


def test_benchmark_degradation_scores_the_degraded_lr_and_repeats_exactly(hr_folder, tmp_path, capsys):
    report_path = tmp_path / "r.json"
    args = ["benchmark", "--model", "bicubic", "--scale", "4", "--dataset", str(hr_folder), "--degradation",
            "medium", "--no-lpips", "-q"]
    assert srapp_main([*args, "--report", str(report_path)]) == 0
    assert "medium degradation" in capsys.readouterr().out
    report = json.loads(report_path.read_text())
    for record in report["images"]:
        hr = mod_crop(read_image(record["input"]), 4)
        lr = degrade(hr, 4, "medium", image_seed(Path(record["input"]).name))
        expected = psnr(imresize(lr, scale=4), hr, crop_border=4, y_channel=True)
        assert record["psnr"] == pytest.approx(expected, abs=1e-9)
    clean = srapp.batch.benchmark(srapp.Upscaler("bicubic", scale=4), hr_folder, with_lpips=False)
    assert report["mean"]["psnr"] < clean.mean()["psnr"]  # the degradation costs bicubic fidelity
    assert srapp_main([*args, "--report", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text())["mean"] == report["mean"]


def test_benchmark_refuses_an_unknown_level(hr_folder, capsys):
    assert srapp_main(["benchmark", "--model", "bicubic", "--scale", "4", "--dataset", str(hr_folder),
                       "--degradation", "extreme", "-q"]) == 2
    assert "unknown degradation level 'extreme'" in capsys.readouterr().err


# -- BasicSR trains on it ---------------------------------------------------------------------------

def test_basicsr_trains_a_network_on_degraded_pairs(hr_folder, tmp_path):
    options = {
        "name": "tiny_photo", "model_type": "SrappSRModel", "precision": "fp32", "scale": 4, "num_gpu": 0,
        "manual_seed": 0,
        "datasets": {
            "train": {"name": "hr", "type": "SrappDegradedDataset", "dataroot_gt": str(hr_folder),
                      "degradation": "photo", "gt_size": 48, "use_hflip": True, "use_rot": True,
                      "use_shuffle": True, "num_worker_per_gpu": 0, "batch_size_per_gpu": 2},
            "val": {"name": "hr_medium", "type": "SrappDegradedDataset", "dataroot_gt": str(hr_folder),
                    "level": "medium"},
        },
        "network_g": {"type": "SrappRCAN", "scale": 4, "num_groups": 1, "num_blocks": 1, "channels": 8,
                      "reduction": 4},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {"optim_g": {"type": "Adam", "lr": 1e-3}, "scheduler": {"type": "MultiStepLR", "milestones": [4],
                  "gamma": 0.5}, "total_iter": 4, "warmup_iter": -1,
                  "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"}},
        "val": {"val_freq": 4, "save_img": False,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 4, "test_y_channel": True}}},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 4, "use_tb_logger": False},
    }
    path = tmp_path / "tiny_photo.yml"
    path.write_text(yaml.safe_dump(options, sort_keys=False))
    experiment = training.train(path, root=tmp_path)
    log = next(experiment.glob("train_tiny_photo_*.log")).read_text()
    assert "Validation hr_medium" in log and "# psnr:" in log
    saved = sorted(path.name for path in (experiment / "models").iterdir())
    assert "net_g_latest.pth" in saved, saved
    weights = srapp.load_model(experiment / "models" / "net_g_latest.pth")  # what promotion reads
    assert isinstance(weights.network, RCAN)


@pytest.mark.parametrize("arch", ["RCAN", "SAN"])
def test_photo_option_files_train_from_the_shipped_file_on_the_photo_recipe(arch):
    options = Path(__file__).resolve().parents[1] / "options" / "train"
    opt = training.option_files.load_yaml(options / f"train_{arch}_x4_photo.yml")
    train, val = opt["datasets"]["train"], opt["datasets"]["val"]
    assert train["type"] == val["type"] == "SrappDegradedDataset"
    assert train["degradation"] == "photo" and val["level"] == "medium"
    assert opt["path"]["pretrain_network_g"] == f"weights/{arch.lower()}-x4.pth" and opt["path"]["strict_load_g"]
    assert opt["train"]["pixel_opt"]["type"] == "L1Loss"
    # the network the option file builds takes the shipped file's weights strictly
    from basicsr.archs import build_network

    training.registration.register_with_basicsr()
    network = build_network(dict(opt["network_g"]))
    shipped = srapp.load_model(Path(__file__).resolve().parents[1] / opt["path"]["pretrain_network_g"])
    network.load_state_dict(shipped.network.state_dict(), strict=True)


# -- the user sees what each model is for ------------------------------------------------------------

def test_models_say_what_inputs_they_are_for(capsys):
    from srapp.checkpoints import trained_for

    assert trained_for("rcan-x4-photo") == "photos: JPEG, noise, blur"
    assert trained_for("rcan-x4") == "clean images reduced by bicubic"
    assert srapp_main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["name", "architecture", "scale", "parameters", "licence", "for"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert "interpolation only" in rows["bicubic"]
    for name in srapp.checkpoints.shipped_models():
        assert trained_for(name) in rows[name]


def test_the_web_app_labels_models_and_prefers_the_photo_model(tmp_path, monkeypatch):
    import srapp.web.service as service_module
    from srapp.web import WebService

    shipped = {"rcan-x4": Path("rcan-x4.pth"), "rcan-x4-photo": Path("rcan-x4-photo.pth")}
    monkeypatch.setattr(service_module, "shipped_models", lambda: shipped)
    service = WebService(work_root=tmp_path / "work", extra_models={"mine-x2": tmp_path / "mine.pth"})
    assert service.model_choices() == [
        ("rcan-x4 (clean images reduced by bicubic)", "rcan-x4"),
        ("rcan-x4-photo (photos: JPEG, noise, blur)", "rcan-x4-photo"),
        ("mine-x2", "mine-x2"),
        ("bicubic (a baseline: interpolation only)", "bicubic"),
    ]
    assert service.default_model() == "rcan-x4-photo"
    monkeypatch.setattr(service_module, "shipped_models", lambda: {"rcan-x4": Path("rcan-x4.pth")})
    assert service.default_model() == "rcan-x4"
