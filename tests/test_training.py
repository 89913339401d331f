"""The BasicSR training pipeline: data preparation, option checks, training, resume, LPIPS metric.

Everything runs on the CPU from generated natural-looking images (``synthetic.py``) and writes only
under pytest's temporary folders; only the check that the option files find their validation sets
reads the benchmark data.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import srapp
from srapp.cli import main as srapp_main
from srapp.data import data_root
from srapp.io.image_io import read_image, write_image
from srapp.engine.resize import imresize
from srapp.metrics import lpips

training = pytest.importorskip("srapp.training")

import basicsr.train  # noqa: E402  (after srapp, which prepares torchvision for it)
from basicsr.archs import build_network  # noqa: E402
from basicsr.metrics import calculate_metric  # noqa: E402
from basicsr.utils.options import ordered_yaml  # noqa: E402

from srapp.training.checkpoint_to_srapp import export_weights  # noqa: E402
from srapp.training.prepare import crop_origins  # noqa: E402
from synthetic import natural_image  # noqa: E402

pytestmark = pytest.mark.training

REPO = Path(__file__).resolve().parents[1]
OPTION_FILES = sorted((REPO / "options").glob("*/*.yml"))
SHIPPED_SIZE_LIMIT = 8 * 2**20  # bytes of a float16 file in weights/
CROP, SCALES = 48, (2, 3, 4)
IMAGES = {"t1.png": (120, 150), "t2.png": (97, 110), "t3.png": (140, 100)}  # (height, width), T91-like


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    """Three generated photo-like images, one image smaller than a crop and one file that is no image."""
    folder = tmp_path_factory.mktemp("hr")
    for seed, (name, shape) in enumerate(IMAGES.items()):
        write_image(folder / name, natural_image(*shape, seed=seed))
    write_image(folder / "tiny.png", read_image(folder / "t1.png")[:40, :40])
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


@pytest.fixture(scope="module")
def prepared(hr_folder, tmp_path_factory) -> tuple[Path, training.PreparationReport]:
    out = tmp_path_factory.mktemp("prepared")
    return out, training.prepare_data(hr_folder, out, scales=SCALES, crop_size=CROP, step=CROP)


@pytest.fixture(scope="module")
def prepared_lmdb(hr_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared_lmdb")
    training.prepare_data(hr_folder, out, scales=(2,), crop_size=CROP, step=CROP, image_format="webp", lmdb=True)
    return out


def test_prepare_data_cuts_hr_and_makes_matlab_bicubic_lr(hr_folder, prepared):
    out, report = prepared
    assert report.images == 3
    assert [path.name for path in report.too_small] == ["tiny.png"]
    assert [path.name for path, _ in report.failed] == ["broken.png"]
    expected = 0
    for name in IMAGES:
        source = read_image(hr_folder / name)
        tops, lefts = crop_origins(source.shape[0], CROP, CROP, 0), crop_origins(source.shape[1], CROP, CROP, 0)
        expected += len(tops) * len(lefts)
        # the last crop of a row sits flush with the right edge of the image
        last = read_image(out / "HR_sub" / f"{Path(name).stem}_s{len(lefts):03d}.png")
        np.testing.assert_array_equal(last, source[:CROP, -CROP:])
    hr_files = sorted(path.name for path in (out / "HR_sub").iterdir())
    assert len(hr_files) == report.sub_images == expected
    for scale in SCALES:
        lr_folder = out / "LR_bicubic" / f"X{scale}_sub"
        assert sorted(path.name for path in lr_folder.iterdir()) == hr_files
    for name in hr_files[:: max(1, len(hr_files) // 6)]:
        hr = read_image(out / "HR_sub" / name)
        assert hr.shape == (CROP, CROP, 3)
        for scale in SCALES:
            lr = read_image(out / "LR_bicubic" / f"X{scale}_sub" / name)
            np.testing.assert_array_equal(lr, imresize(hr, 1 / scale))


def test_prepare_data_lmdb_in_basicsr_layout(prepared, prepared_lmdb):
    lmdb = pytest.importorskip("lmdb")
    folder_out, _ = prepared
    for database, folder in ((prepared_lmdb / "HR_sub.lmdb", folder_out / "HR_sub"),
                             (prepared_lmdb / "LR_bicubic" / "X2_sub.lmdb", folder_out / "LR_bicubic" / "X2_sub")):
        lines = (database / "meta_info.txt").read_text().splitlines()
        assert len(lines) == len(list(folder.iterdir()))
        env = lmdb.open(str(database), readonly=True, lock=False)
        with env.begin() as transaction:
            for line in lines:
                match = re.fullmatch(r"(\w+)\.webp \((\d+),(\d+),3\) \d+", line)
                assert match, line
                image = read_image_bytes(transaction.get(match.group(1).encode("ascii")))
                assert image.shape[:2] == (int(match.group(2)), int(match.group(3)))
                # lossless WebP: the same pixels as the PNG preparation
                np.testing.assert_array_equal(image, read_image(folder / f"{match.group(1)}.png"))
        env.close()


def read_image_bytes(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[:, :, ::-1]


def test_prepare_data_command_exit_status(hr_folder, prepared, tmp_path, capsys):
    out, _ = prepared
    # crop 50 is no multiple of 3 / output already holds data: usage errors, nothing written
    assert srapp_main(["prepare-data", str(hr_folder), "-o", str(tmp_path / "a"), "--crop-size", "50"]) == 2
    assert not (tmp_path / "a").exists()
    assert srapp_main(["prepare-data", str(hr_folder), "-o", str(out), "--scales", "2"]) == 2
    assert "already holds data" in capsys.readouterr().err
    # an unreadable image is reported and skipped; the status says so
    assert srapp_main(["prepare-data", str(hr_folder), "-o", str(tmp_path / "b"), "--scales", "4",
                       "--crop-size", "48", "--step", "96", "--workers", "1"]) == 1
    assert "broken.png" in capsys.readouterr().err
    assert len(list((tmp_path / "b" / "LR_bicubic" / "X4_sub").iterdir())) > 0


def tiny_options(prepared_lmdb: Path, val_folder: Path, total_iter: int) -> dict:
    """RCAN 1 group x 1 block x 8 features, LR patches of 16, batch 2; bf16 + channels-last on the CPU."""
    return {
        "name": "tiny", "model_type": "SrappSRModel", "precision": "bf16", "channels_last": True,
        "scale": 2, "num_gpu": 0, "manual_seed": 0,
        "datasets": {
            "train": {
                "name": "t91", "type": "PairedImageDataset", "io_backend": {"type": "lmdb"},
                "dataroot_gt": str(prepared_lmdb / "HR_sub.lmdb"),
                "dataroot_lq": str(prepared_lmdb / "LR_bicubic" / "X2_sub.lmdb"),
                "gt_size": 32, "use_hflip": True, "use_rot": True, "use_shuffle": True,
                "num_worker_per_gpu": 0, "batch_size_per_gpu": 2,
            },
            "val": {"name": "two", "type": "SrappBicubicPairedDataset", "dataroot_gt": str(val_folder)},
        },
        "network_g": {"type": "SrappRCAN", "scale": 2, "num_groups": 1, "num_blocks": 1, "channels": 8,
                      "reduction": 4},
        "path": {"pretrain_network_g": None, "strict_load_g": True, "resume_state": None},
        "train": {
            "ema_decay": 0.5,
            "optim_g": {"type": "Adam", "lr": 1e-3, "betas": [0.9, 0.999]},
            "scheduler": {"type": "MultiStepLR", "milestones": [6], "gamma": 0.5},
            "total_iter": total_iter, "warmup_iter": -1,
            "pixel_opt": {"type": "L1Loss", "loss_weight": 1.0, "reduction": "mean"},
        },
        "val": {
            "val_freq": 4, "save_img": False,
            "metrics": {
                "psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True},
                "ssim": {"type": "calculate_ssim", "crop_border": 2, "test_y_channel": True},
                "lpips": {"type": "calculate_lpips", "better": "lower"},
            },
        },
        "logger": {"print_freq": 2, "save_checkpoint_freq": 4, "use_tb_logger": False},
    }


def write_yaml(path: Path, options: dict) -> Path:
    path.write_text(yaml.safe_dump(options, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def val_folder(prepared, tmp_path_factory) -> Path:
    out, _ = prepared
    folder = tmp_path_factory.mktemp("val")
    for name in sorted(path.name for path in (out / "HR_sub").iterdir())[:2]:
        (folder / name).write_bytes((out / "HR_sub" / name).read_bytes())
    return folder


@pytest.fixture(scope="module")
def trained(prepared_lmdb, val_folder, tmp_path_factory) -> dict:
    """Train 4 iterations, then resume with --auto_resume (through the CLI) up to 8."""
    root = tmp_path_factory.mktemp("root")
    options = root / "tiny.yml"
    experiment = training.train(write_yaml(options, tiny_options(prepared_lmdb, val_folder, 4)), root=root)
    first_logs = [path.read_text() for path in experiment.glob("train_tiny_*.log")]
    net_after_first = torch.load(experiment / "models" / "net_g_4.pth", weights_only=True)["params"]
    write_yaml(options, tiny_options(prepared_lmdb, val_folder, 8))
    status = srapp_main(["train", "-opt", str(options), "--auto_resume", "--root", str(root)])
    # BasicSR names logs by the second: a resume within the same second overwrites the first log
    resumed_log = max(experiment.glob("train_tiny_*.log"), key=lambda path: path.stat().st_mtime).read_text()
    return {"root": root, "options": options, "experiment": experiment, "status": status,
            "first_logs": first_logs, "resumed_log": resumed_log, "net_after_first": net_after_first}


def test_train_validates_saves_and_writes_under_root(trained):
    experiment = trained["experiment"]
    assert experiment == trained["root"] / "experiments" / "tiny"
    assert (experiment / "models" / "net_g_4.pth").is_file()
    assert (experiment / "training_states" / "4.state").is_file()
    assert len(trained["first_logs"]) == 1
    log = trained["first_logs"][0]
    assert "Start training from epoch: 0, iter: 0" in log
    metrics = {name: float(value) for name, value in re.findall(r"# (psnr|ssim|lpips): ([\d.]+)", log)}
    assert set(metrics) == {"psnr", "ssim", "lpips"}
    assert 5 < metrics["psnr"] < 60 and 0 < metrics["ssim"] <= 1 and 0 < metrics["lpips"] < 1


def test_auto_resume_continues_from_the_saved_state(trained):
    experiment = trained["experiment"]
    assert trained["status"] == 0
    log = trained["resumed_log"]
    assert "Resuming training from epoch: 0, iter: 4." in log
    assert "Start training from epoch: 0, iter: 4" in log
    assert "# lpips:" in log
    state = training.load_training_state(experiment / "training_states" / "8.state")
    assert state["iter"] == 8
    # Adam's step count runs on from the restored optimizer state (a fresh one would say 4)
    assert all(float(s["step"]) == 8 for s in state["optimizers"][0]["state"].values())
    # BasicSR steps the scheduler from the second iteration on: 7 steps in 8 (3 if it restarted)
    assert state["schedulers"][0]["last_epoch"] == 7
    resumed = torch.load(experiment / "models" / "net_g_8.pth", weights_only=True)
    assert set(resumed) == {"params", "params_ema"}
    changed = [not torch.equal(resumed["params"][k], v) for k, v in trained["net_after_first"].items()]
    assert any(changed)
    # the session restored BasicSR: nothing of srapp's patch is left behind
    assert basicsr.train.load_resume_state.__module__ == "basicsr.train"


def test_training_state_loads_without_cuda(trained, monkeypatch):
    def no_cuda(*args, **kwargs):
        raise RuntimeError("no CUDA here")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "current_device", no_cuda)
    state = training.load_training_state(trained["experiment"] / "training_states" / "4.state")
    tensors = [t for s in state["optimizers"][0]["state"].values() for t in s.values() if torch.is_tensor(t)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    assert dict(state["schedulers"][0]["milestones"]) == {6: 1}  # a collections.Counter: on the allow-list


def test_resume_skips_a_truncated_newest_state(trained, tmp_path):
    experiment = trained["experiment"]
    opt = {"network_g": {}, "path": {"training_states": str(tmp_path / "states"), "models": str(tmp_path / "models")}}
    (tmp_path / "states").mkdir()
    (tmp_path / "models").mkdir()
    for name in ("4.state", "8.state"):
        (tmp_path / "states" / name).write_bytes((experiment / "training_states" / name).read_bytes())
    (tmp_path / "states" / "12.state").write_bytes((experiment / "training_states" / "8.state").read_bytes()[:200])
    for iteration in (4, 12):  # 8.state has no network file: unusable too
        (tmp_path / "models" / f"net_g_{iteration}.pth").write_bytes(b"")
    path, state = training.latest_training_state(opt)
    assert path.name == "4.state" and state["iter"] == 4


@pytest.mark.parametrize("storage", [torch.float16, torch.int8], ids=["fp16", "int8"])
def test_export_gives_an_srapp_checkpoint_that_basicsr_tests(trained, val_folder, tmp_path, storage, monkeypatch):
    experiment = trained["experiment"]
    monkeypatch.setenv("SRAPP_DATA", str(val_folder.parent))  # the test set as a data folder's would be named
    exported = export_weights(experiment / "models" / "net_g_latest.pth", trained["options"], tmp_path / "tiny.pth",
                              dtype=storage)
    checkpoint = torch.load(exported, weights_only=True)
    assert checkpoint["format"] == "srapp" and checkpoint["arch"] == "RCAN"
    assert all(v.dtype == torch.float16 for v in checkpoint["params"].values() if v.is_floating_point())
    assert bool(checkpoint.get("int8_params")) == (storage == torch.int8)
    model = srapp.load_model(exported).network
    ema = torch.load(experiment / "models" / "net_g_latest.pth", weights_only=True)["params_ema"]
    for key, value in model.state_dict().items():
        if key in checkpoint.get("int8_params", {}):  # half a quantisation step of its output channel
            step = checkpoint["int8_scales"][key].view(-1, *[1] * (value.dim() - 1))
            assert ((value - ema[key]).abs() <= step / 2 + 1e-7).all()
        else:
            torch.testing.assert_close(value, ema[key].half().float())
    test_options = {
        "name": "tiny_test", "model_type": "SrappSRModel", "scale": 2, "num_gpu": 0,
        "datasets": {"test_1": {"name": "two", "type": "SrappBicubicPairedDataset",
                                "dataroot_gt": f"${{SRAPP_DATA}}/{val_folder.name}"}},
        "network_g": tiny_options(Path(), val_folder, 1)["network_g"],
        "path": {"pretrain_network_g": str(exported), "param_key_g": "params", "strict_load_g": True},
        "val": {"save_img": False, "suffix": None,
                "metrics": {"psnr": {"type": "calculate_psnr", "crop_border": 2, "test_y_channel": True},
                            "lpips": {"type": "calculate_lpips", "better": "lower"}}},
    }
    results = training.evaluate(write_yaml(tmp_path / "test_tiny.yml", test_options), root=tmp_path)
    log = next(results.glob("test_tiny_test_*.log")).read_text()
    assert f"Loading SrappRCAN model from {exported} (srapp format)" in log and "# psnr:" in log and "# lpips:" in log


@pytest.mark.parametrize("path", OPTION_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_option_file_parses_and_builds(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SRAPP_DATA", str(tmp_path))  # any data folder: paths are not checked here
    with open(path) as handle:
        opt = yaml.load(handle, Loader=ordered_yaml()[0])  # BasicSR's own loader
    assert opt["name"] == path.stem
    training.validate_options(path, REPO, is_train=path.parent.name == "train", check_paths=False)
    network = build_network(copy.deepcopy(opt["network_g"]))
    assert network.scale == opt["scale"]
    if path.parent.name == "test" or path.stem.endswith("_291"):  # the shipped models' size
        assert sum(p.numel() for p in network.parameters()) * 2 < SHIPPED_SIZE_LIMIT
    if path.parent.name == "test":
        arch = "rcan" if opt["network_g"]["type"] == "SrappRCAN" else "san"
        assert opt["path"]["pretrain_network_g"] == f"weights/{arch}-x{opt['scale']}.pth"
        assert opt["val"]["metrics"]["psnr"]["crop_border"] == opt["scale"]
        assert set(opt["val"]["metrics"]) == {"psnr", "ssim", "lpips"}


@pytest.mark.needs_data("datasets/Set5", "datasets/Set14", "datasets/BSD100")
def test_option_files_find_their_validation_sets_in_the_data_folder():
    for path in OPTION_FILES:
        opt = training.option_files.resolve_paths(training.option_files.load_yaml(path), REPO, source=path)
        # validation sets: bicubic pairs, or pairs degraded at a fixed level
        folders = [Path(d["dataroot_gt"]) for d in opt["datasets"].values()
                   if d["type"] == "SrappBicubicPairedDataset" or "level" in d]
        assert folders, path
        for folder in folders:
            assert folder.parent == data_root() / "datasets" and folder.is_dir(), (path, folder)


def test_test_options_match_the_training_of_the_shipped_weights():
    for test_path in sorted((REPO / "options" / "test").glob("*.yml")):
        arch_scale = test_path.stem.removeprefix("test_")
        train_path = REPO / "options" / "train" / f"train_{arch_scale}_291.yml"
        read = training.option_files.load_yaml
        assert read(train_path)["network_g"] == read(test_path)["network_g"]


def test_option_mistakes_fail_before_training(prepared_lmdb, val_folder, tmp_path, capsys):
    options = tiny_options(prepared_lmdb, val_folder, 4)
    options["datasets"]["train"]["use_flip"] = options["datasets"]["train"].pop("use_hflip")
    options["network_g"]["num_group"] = options["network_g"].pop("num_groups")
    options["datasets"]["val"]["dataroot_gt"] = str(tmp_path / "missing")
    path = write_yaml(tmp_path / "broken.yml", options)
    with pytest.raises(training.OptionsError) as error:
        training.train(path, root=tmp_path)
    message = str(error.value)
    assert f"{path}: datasets.train.use_flip: unknown key (did you mean 'use_hflip'?)" in message
    assert f"{path}: datasets.train.use_hflip: missing" in message
    assert f"{path}: network_g.num_group: unknown key (did you mean 'num_groups'?)" in message
    assert f"{path}: datasets.val.dataroot_gt: no such folder: {tmp_path / 'missing'}" in message
    assert not (tmp_path / "experiments").exists()
    assert srapp_main(["train", "-opt", str(path), "--root", str(tmp_path)]) == 2
    assert "datasets.train.use_flip" in capsys.readouterr().err


def test_lpips_metric_equals_srapp_lpips_on_rgb():
    training.register_with_basicsr()
    reference = natural_image(96, 128, seed=5)
    distorted = imresize(imresize(reference, 0.5), 2.0)
    bgr = {"img": distorted[:, :, ::-1].copy(), "img2": reference[:, :, ::-1].copy()}  # what tensor2img gives
    value = calculate_metric(bgr, {"type": "calculate_lpips", "better": "lower"})
    assert value == pytest.approx(lpips(distorted, reference), abs=1e-6)
    assert value > 0.01
    # the channel order matters: the metric is not LPIPS of the BGR arrays taken as RGB
    assert abs(value - lpips(bgr["img"], bgr["img2"])) > 1e-4
    cropped = calculate_metric(bgr, {"type": "calculate_lpips", "crop_border": 4})
    assert cropped == pytest.approx(lpips(distorted[4:-4, 4:-4], reference[4:-4, 4:-4]), abs=1e-6)
