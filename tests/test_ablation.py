"""The attention ablation (``experiments/ablation.py``): RCAN without attention, the option files,
the measurements, the report and the command."""

from __future__ import annotations

import copy
import datetime
import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

import srapp
from srapp.archs import RCAN
from srapp.archs.rcan import RCAN_ATTENTIONS
from srapp.attention import ATTENTION_NAMES
from synthetic import write_natural_images

training = pytest.importorskip("srapp.training")

from basicsr.archs import build_network  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OPTIONS = REPO / "options" / "ablation"


def _load_experiment(path: Path):
    spec = importlib.util.spec_from_file_location("ablation", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ablation = _load_experiment(REPO / "experiments" / "ablation.py")
SMALL = dict(num_groups=ablation.DEFAULT_SCHEDULE.num_groups, num_blocks=ablation.DEFAULT_SCHEDULE.num_blocks,
             channels=ablation.DEFAULT_SCHEDULE.channels)


# --------------------------------------------------------------------------------------------
# RCAN with attention "none"
# --------------------------------------------------------------------------------------------


def test_none_has_exactly_the_parameters_of_ca_without_its_attention():
    ca, none = RCAN(scale=2, attention="ca", **SMALL), RCAN(scale=2, attention="none", **SMALL)
    ca_shapes = {key: value.shape for key, value in ca.state_dict().items()}
    none_shapes = {key: value.shape for key, value in none.state_dict().items()}
    attention_keys = {key for key in ca_shapes if ".attention." in key}
    assert attention_keys  # CA's two 1x1 convolutions in each of the 12 blocks
    assert len(attention_keys) == 4 * SMALL["num_groups"] * SMALL["num_blocks"]
    assert none_shapes == {key: shape for key, shape in ca_shapes.items() if key not in attention_keys}
    hidden = SMALL["channels"] // 16
    per_block = 2 * SMALL["channels"] * hidden + hidden + SMALL["channels"]
    added = sum(p.numel() for p in ca.parameters()) - sum(p.numel() for p in none.parameters())
    assert added == per_block * SMALL["num_groups"] * SMALL["num_blocks"]


def test_none_block_is_x_plus_conv_relu_conv():
    torch.manual_seed(0)
    model = RCAN(scale=2, attention="none", num_groups=1, num_blocks=2, channels=8).eval()
    block = model.groups[0].blocks[0]
    x = torch.randn(2, 8, 6, 5)
    reference = x + F.conv2d(F.relu(F.conv2d(x, block.conv1.weight, block.conv1.bias, padding=1)),
                             block.conv2.weight, block.conv2.bias, padding=1)
    with torch.no_grad():
        torch.testing.assert_close(block(x), reference, rtol=0, atol=1e-6)
    assert model.config["attention"] == "none"
    assert all(group.shared_state is None for group in model.groups)


def test_none_loads_ca_weights_minus_attention_and_trains():
    ca = RCAN(scale=2, attention="ca", **SMALL)
    none = RCAN(scale=2, attention="none", **SMALL)
    subset = {key: value for key, value in ca.state_dict().items() if ".attention." not in key}
    none.load_state_dict(subset, strict=True)
    out = none(torch.rand(2, 3, 8, 8))
    F.l1_loss(out, torch.rand_like(out)).backward()
    assert all(torch.isfinite(p.grad).all() for p in none.parameters())


def test_unknown_attention_names_none_among_the_choices():
    with pytest.raises(ValueError, match=r"unknown attention 'nope'; valid names: none, se, "):
        RCAN(scale=2, attention="nope", **SMALL)


# --------------------------------------------------------------------------------------------
# The option files
# --------------------------------------------------------------------------------------------


def flatten(options: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in options.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_the_folder_holds_exactly_the_generated_files():
    runs = ablation.ablation_runs()
    assert [a for a, seed in runs if seed == ablation.MAIN_SEED] == ["none", *ATTENTION_NAMES]
    assert len(runs) == 12 + 4
    expected = {f"{ablation.run_name(a, s)}.yml": ablation.ablation_options(a, s) for a, s in runs}
    assert sorted(path.name for path in OPTIONS.glob("*.yml")) == sorted(expected)
    for name, options in expected.items():
        # the committed file is what the template gives today: regenerate after editing the template
        assert training.option_files.load_yaml(OPTIONS / name) == options, name


def test_the_twelve_differ_only_in_attention_and_name():
    main = {a: flatten(ablation.ablation_options(a)) for a in RCAN_ATTENTIONS}
    reference = main["none"]
    for attention, flat in main.items():
        assert flat.keys() == reference.keys()
        different = {key for key in flat if flat[key] != reference[key]}
        assert different == (set() if attention == "none" else {"name", "network_g.attention"}), attention
        assert flat["network_g.attention"] == attention
    assert len({flat["name"] for flat in main.values()}) == 12
    for attention in ablation.NOISE_ATTENTIONS:
        for seed in ablation.NOISE_SEEDS:
            flat = flatten(ablation.ablation_options(attention, seed))
            different = {key for key in flat if flat[key] != main[attention][key]}
            assert different == {"name", "manual_seed"} and flat["manual_seed"] == seed


@pytest.mark.parametrize("path", sorted(OPTIONS.glob("*.yml")), ids=lambda p: p.stem.removeprefix("ablation_"))
def test_every_ablation_file_passes_the_checker_and_builds(path, tmp_path, monkeypatch):
    monkeypatch.setenv("SRAPP_DATA", str(tmp_path))  # any data folder: paths are not checked here
    opt = training.validate_options(path, REPO, is_train=True, check_paths=False)
    assert opt["precision"] == "fp32" and opt["channels_last"] is True
    network = build_network(copy.deepcopy(opt["network_g"]))
    assert network.scale == opt["scale"] == 2
    assert network.config["attention"] == opt["network_g"]["attention"]
    with torch.no_grad():
        assert network.eval()(torch.rand(1, 3, 9, 7)).shape == (1, 3, 18, 14)


# --------------------------------------------------------------------------------------------
# Measurements and the report
# --------------------------------------------------------------------------------------------


def conv_flops(c_in: int, c_out: int, pixels: int) -> int:
    return 2 * 9 * c_in * c_out * pixels


def test_network_cost_counts_every_convolution():
    groups, blocks, channels, side = 2, 3, 8, 16
    model = RCAN(scale=2, attention="none", num_groups=groups, num_blocks=blocks, channels=channels)
    pixels = side * side
    expected = (conv_flops(3, channels, pixels)
                + (2 * blocks * groups + groups + 1) * conv_flops(channels, channels, pixels)
                + conv_flops(channels, 4 * channels, pixels)  # upsampler, before the pixel shuffle
                + conv_flops(channels, 3, 4 * pixels))  # tail, at the output size
    cost = ablation.network_cost(model, side)
    assert cost["gflops"] == round(expected / 1e9, 4)
    assert cost["params"] == sum(p.numel() for p in model.parameters())
    ca_cost = ablation.network_cost(RCAN(scale=2, attention="ca", num_groups=groups, num_blocks=blocks,
                                         channels=channels), side)
    assert ca_cost["gflops"] >= cost["gflops"]


def log_line(start: datetime.datetime, seconds: float, message: str) -> str:
    stamp = start + datetime.timedelta(seconds=seconds)
    return f"{stamp:%Y-%m-%d %H:%M:%S},{stamp.microsecond // 1000:03d} INFO: {message}"


def iteration_message(iteration: int) -> str:
    return (f"[ablat..][epoch:  0, iter:{iteration:8,d}, lr:(5.000e-04,)] [eta: 0:00:10, time (data): 1.0 (0.0)] "
            "l_pix: 1.0e-02")


def test_training_timing_reads_wall_time_and_median_window_from_the_logs(tmp_path):
    start = datetime.datetime(2030, 1, 2, 3, 4, 5)
    # session 1: iterations every 2 s, one window slowed by a validation; session 2 resumes
    first = [log_line(start, 0, "start"), log_line(start, 10, iteration_message(10)),
             log_line(start, 30, iteration_message(20)), log_line(start, 50, iteration_message(30)),
             log_line(start, 150, iteration_message(40)), log_line(start, 151.5, "Saving models")]
    second = [log_line(start, 1000, "resumed"), log_line(start, 1005, iteration_message(1010)),
              log_line(start, 1025, iteration_message(1020)), "a line without a time stamp"]
    (tmp_path / "train_x_20300102_030405.log").write_text("\n".join(first) + "\n")
    (tmp_path / "train_x_20300102_032045.log").write_text("\n".join(second) + "\n")
    timing = ablation.training_timing(tmp_path)
    assert timing["train_wall_s"] == pytest.approx(151.5 + 25)
    assert timing["s_per_iter"] == pytest.approx(2.0)  # windows 2, 2, 10, 2
    assert ablation.training_timing(tmp_path / "missing") == {"train_wall_s": None, "s_per_iter": None}


def fake_run(attention: str, seed: int, psnr: dict[str, float]) -> dict:
    return {"name": ablation.run_name(attention, seed), "attention": attention, "seed": seed, "total_iter": 10,
            "s_per_iter": 1.0, "peak_rss_mib": 500.0, "train_wall_s": 10.0,
            "benchmarks": {s: {"psnr": value, "ssim": 0.9, "lpips": None} for s, value in psnr.items()}}


def test_noise_is_the_pooled_seed_std_and_flags_what_exceeds_it():
    sets = ["A", "B"]
    runs = [fake_run("none", 1, {"A": 30.0, "B": 28.0}), fake_run("none", 2, {"A": 30.2, "B": 28.0}),
            fake_run("none", 3, {"A": 30.1, "B": 28.3}),
            fake_run("ca", 1, {"A": 30.4, "B": 28.0}), fake_run("ca", 2, {"A": 30.5, "B": 28.1}),
            fake_run("ca", 3, {"A": 30.6, "B": 28.2}),
            fake_run("eca", 1, {"A": 30.2, "B": 29.0})]
    noise = ablation.noise_estimate(runs, sets)
    assert noise["attentions"] == ["ca", "none"]
    expected = {s: math.sqrt((np.var([r["benchmarks"][s]["psnr"] for r in runs[:3]], ddof=1)
                              + np.var([r["benchmarks"][s]["psnr"] for r in runs[3:6]], ddof=1)) / 2) for s in sets}
    assert noise["psnr_std"] == {s: pytest.approx(expected[s], abs=1e-4) for s in sets}
    costs = {"none": {"params": 100, "gflops": 1.0}, "ca": {"params": 150, "gflops": 1.5},
             "eca": {"params": 103, "gflops": 1.0}}
    latency = {"ms": {"none": 5.0, "ca": 6.0, "eca": 5.5}}
    rows = {row["attention"]: row for row in ablation.summarise(runs, costs, latency, noise, sets)}
    assert list(rows) == ["none", "eca", "ca"]  # the library's order, none first
    assert rows["ca"]["A_psnr"] == pytest.approx(30.5) and rows["ca"]["seeds"] == [1, 2, 3]
    assert rows["ca"]["added_params"] == 50 and rows["eca"]["added_gflops"] == 0
    # ca vs none on A: +0.4 against 2 * 0.1 * sqrt(2/3) = 0.163; eca vs none: +0.1 against 0.231
    assert rows["ca"]["A_psnr_vs_none"] == pytest.approx(0.4) and rows["ca"]["A_beyond_noise"]
    assert rows["eca"]["A_psnr_vs_none"] == pytest.approx(0.1) and not rows["eca"]["A_beyond_noise"]
    assert rows["eca"]["B_beyond_noise"] and not rows["ca"]["B_beyond_noise"]
    assert "A_psnr_vs_none" not in rows["none"]


# --------------------------------------------------------------------------------------------
# The command, end to end on a tiny schedule
# --------------------------------------------------------------------------------------------

TINY = ablation.AblationSchedule(num_groups=1, num_blocks=1, channels=8, lq_size=16, batch_size=2, total_iter=4,
                                 print_freq=1, checkpoint_freq=2, val_freq=4)


@pytest.fixture(scope="module")
def ablation_root(tmp_path_factory) -> dict:
    """Two generated photos cut into 32-pixel sub-images; two generated 48-pixel images per
    benchmark set; three runs (none at two seeds, ca), trained and measured by the command."""
    root = tmp_path_factory.mktemp("ablation_root")
    write_natural_images(root / "hr", [(64, 64), (64, 96)], seed=0)
    training.prepare_data(root / "hr", root / "sub", scales=(2,), crop_size=32, step=32)
    for folder, seed in (("Set5", 10), ("Other", 20)):
        write_natural_images(root / folder, [(48, 48), (48, 48)], seed=seed)
    data = ablation.AblationData(train_gt="sub/HR_sub", train_lq="sub/LR_bicubic/X2_sub", validation="Set5",
                                 benchmarks=(("Set5", "Set5"), ("Other", "Other")))
    options = root / "options"
    for attention, seed in (("none", 1), ("none", 2), ("ca", 1)):
        opt = ablation.ablation_options(attention, seed, TINY, data)
        (options).mkdir(exist_ok=True)
        (options / f"{opt['name']}.yml").write_text(yaml.safe_dump(opt, sort_keys=False))
    report_path, plot_path = root / "report.json", root / "plot.png"

    def run() -> int:
        return ablation.main(["run", str(options), "--report", str(report_path), "--plot", str(plot_path),
                              "--root", str(root), "--benchmark", "Set5=Set5", "--benchmark", "Other=Other",
                              "--latency-rounds", "2"])

    status = run()
    first_report = json.loads(report_path.read_text())
    ca = root / "experiments" / ablation.run_name("ca")
    logs_before = sorted(p.name for p in (root / "experiments").glob("*/train_*.log"))
    # interrupt ca after iteration 2: its final network and the state at 4 are gone
    for path in (ca / "models" / "net_g_latest.pth", ca / "models" / "net_g_4.pth",
                 ca / "training_states" / "4.state"):
        path.unlink()
    resumed_status = run()
    return {"root": root, "status": status, "resumed_status": resumed_status, "first": first_report,
            "report": json.loads(report_path.read_text()), "plot": plot_path, "logs_before": logs_before,
            "logs_after": sorted((root / "experiments").glob("*/train_*.log")), "ca": ca}


@pytest.mark.training
def test_ablate_trains_benchmarks_and_reports(ablation_root):
    assert ablation_root["status"] == 0
    report = ablation_root["first"]
    assert report["benchmark_sets"] == ["Set5", "Other"]
    runs = {run["name"]: run for run in report["runs"]}
    assert set(runs) == {ablation.run_name("none"), ablation.run_name("none", 2), ablation.run_name("ca")}
    for run in runs.values():
        assert "error" not in run
        assert 5 < run["benchmarks"]["Set5"]["psnr"] < 60 and 0 < run["benchmarks"]["Other"]["ssim"] <= 1
        assert 0 < run["benchmarks"]["Set5"]["lpips"] < 1 and run["benchmarks"]["Other"]["lpips"] is None
        assert run["s_per_iter"] > 0 and run["train_wall_s"] > 0 and run["peak_rss_mib"] > 100
        assert run["cpu_s_per_iter"] > 0
        assert run["sessions"] == 1
    # the two seeds of none trained different networks
    assert runs[ablation.run_name("none")]["benchmarks"] != runs[ablation.run_name("none", 2)]["benchmarks"]
    rows = {row["attention"]: row for row in report["attentions"]}
    assert list(rows) == ["none", "ca"] and rows["none"]["seeds"] == [1, 2]
    assert rows["none"]["added_params"] == 0 and rows["ca"]["added_params"] == 8 * 1 + 1 + 1 * 8 + 8
    assert rows["ca"]["latency_ms"] > 0 and report["latency"]["backend"] == srapp.Upscaler(
        ablation_root["root"] / "experiments" / ablation.run_name("ca") / ablation.SRAPP_CHECKPOINT).backend
    assert report["noise"]["attentions"] == ["none"] and report["noise"]["psnr_std"]["Set5"] >= 0
    assert isinstance(rows["ca"]["Set5_beyond_noise"], bool)
    # the final model is an srapp checkpoint that records its attention
    for attention in ("none", "ca"):
        model = srapp.load_model(ablation_root["root"] / "experiments" / ablation.run_name(attention)
                                 / ablation.SRAPP_CHECKPOINT)
        assert model.network.config["attention"] == attention
    table = ablation.markdown_table(report)
    assert table.count("\n") == 3 and "| `ca` | 1 |" in table
    from PIL import Image

    with Image.open(ablation_root["plot"]) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1] > 200


@pytest.mark.training
def test_ablate_skips_finished_runs_and_resumes_an_interrupted_one(ablation_root):
    assert ablation_root["resumed_status"] == 0
    before = ablation_root["logs_before"]
    after = ablation_root["logs_after"]
    new = [path for path in after if path.name not in before]
    assert [path.parent for path in new] == [ablation_root["ca"]]  # the none runs were not trained again
    assert "Resuming training from epoch: 0, iter: 2." in new[0].read_text()
    sessions = json.loads((ablation_root["ca"] / ablation.SESSIONS_FILE).read_text())
    assert len(sessions) == 2 and all(session["exit_status"] == 0 for session in sessions)
    run = next(run for run in ablation_root["report"]["runs"] if run["attention"] == "ca")
    assert run["sessions"] == 2 and "benchmarks" in run


def test_ablate_reports_a_folder_without_option_files(tmp_path, capsys):
    assert ablation.main(["run", str(tmp_path), "--report", str(tmp_path / "r.json")]) == 2
    assert "no option files" in capsys.readouterr().err


def test_ablation_options_command_writes_the_committed_files(tmp_path):
    assert ablation.main(["options", str(tmp_path)]) == 0
    written = sorted(tmp_path.glob("*.yml"))
    assert [path.name for path in written] == sorted(path.name for path in OPTIONS.glob("*.yml"))
    for path in written:
        assert training.option_files.load_yaml(path) == training.option_files.load_yaml(OPTIONS / path.name)
