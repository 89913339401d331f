"""srapp.data: where the benchmark data is found ($SRAPP_DATA, else ../shared beside the
repository), dataset names and paths, and ``${SRAPP_DATA}`` in option files."""

from __future__ import annotations

from pathlib import Path

import pytest

from srapp import data, locations
from srapp.errors import UsageError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def checkout(tmp_path, monkeypatch) -> Path:
    """A stand-in source checkout (``tmp/work/repo``) with nothing beside it and SRAPP_DATA unset."""
    repo = tmp_path / "work" / "repo"
    repo.mkdir(parents=True)
    (repo / "pyproject.toml").write_text("[project]\nname = 'srapp'\n")
    monkeypatch.setattr(locations, "PACKAGE_DIR", repo / "srapp")
    monkeypatch.delenv("SRAPP_DATA", raising=False)
    return repo


def make_data_folder(root: Path) -> Path:
    for name in ("Set5", "Set14"):
        (root / "datasets" / name).mkdir(parents=True)
    (root / "datasets" / "README.md").write_text("not a dataset")
    (root / "calibration").mkdir()
    return root


def test_no_data_folder_without_srapp_data_or_shared(checkout):
    assert data.data_root() is None
    assert data.calibration_dir() is None and data.reference_dir() is None and data.dataset_names() == []
    with pytest.raises(UsageError) as error:
        data.dataset_path("Set5")
    assert str(error.value).startswith("Set5: no dataset of that name") and "SRAPP_DATA" in str(error.value)


def test_shared_beside_the_checkout_is_the_default(checkout):
    shared = make_data_folder(checkout.parent / "shared")
    assert data.data_root() == shared
    assert data.dataset_names() == ["Set14", "Set5"]
    assert data.dataset_path("Set5") == shared / "datasets" / "Set5"
    assert data.calibration_dir() == shared / "calibration"
    assert data.reference_dir() is None  # not in this data folder


def test_shared_is_not_looked_for_beside_an_installed_package(checkout):
    make_data_folder(checkout.parent / "shared")
    (checkout / "pyproject.toml").unlink()  # site-packages/srapp: no checkout
    assert data.data_root() is None


def test_srapp_data_wins_over_shared(checkout, tmp_path, monkeypatch):
    make_data_folder(checkout.parent / "shared")
    mine = tmp_path / "elsewhere"
    (mine / "datasets" / "Urban100").mkdir(parents=True)
    monkeypatch.setenv("SRAPP_DATA", str(mine))
    assert data.data_root() == mine
    assert data.dataset_path("Urban100") == mine / "datasets" / "Urban100"
    assert data.calibration_dir() is None  # ../shared's calibration is not mixed in
    with pytest.raises(UsageError) as error:
        data.dataset_path("Set5")
    message = str(error.value)
    assert f"SRAPP_DATA={mine}" in message and "datasets there: Urban100" in message
    # an empty SRAPP_DATA counts as unset
    monkeypatch.setenv("SRAPP_DATA", "")
    assert data.data_root() == checkout.parent / "shared"


def test_srapp_data_that_does_not_exist_is_reported_not_replaced(checkout, tmp_path, monkeypatch):
    make_data_folder(checkout.parent / "shared")
    monkeypatch.setenv("SRAPP_DATA", str(tmp_path / "typo"))
    assert data.data_root() == tmp_path / "typo"
    with pytest.raises(UsageError, match="no datasets there"):
        data.dataset_path("Set5")


def test_existing_paths_are_used_as_they_are(checkout, tmp_path, monkeypatch):
    make_data_folder(checkout.parent / "shared")
    (tmp_path / "Set5").mkdir()
    monkeypatch.chdir(tmp_path)
    assert data.dataset_path("Set5") == Path("Set5")  # a folder here comes before the data folder's
    assert data.dataset_path(tmp_path / "Set5") == tmp_path / "Set5"
    with pytest.raises(UsageError) as error:
        data.dataset_path(tmp_path / "missing" / "Set5")  # a path is never looked up by its last part
    assert str(error.value).startswith(f"{tmp_path / 'missing' / 'Set5'}: no such dataset folder")
    assert "Set14, Set5" in str(error.value)


def test_dollar_srapp_data_in_option_files(checkout, tmp_path, monkeypatch):
    training = pytest.importorskip("srapp.training")
    option_file = REPO / "options" / "test" / "test_RCAN_x4.yml"
    with pytest.raises(training.OptionsError) as error:
        training.validate_options(option_file, REPO, is_train=False, check_paths=False)
    message = str(error.value)
    assert message.startswith(f"{option_file}: datasets.test_1.dataroot_gt: ${{SRAPP_DATA}}/datasets/Set5")
    assert "SRAPP_DATA" in message.split("none was found")[1]

    mine = make_data_folder(tmp_path / "mine")
    monkeypatch.setenv("SRAPP_DATA", str(mine))
    opt = training.option_files.resolve_paths(
        {"datasets": {"val": {"dataroot_gt": "${SRAPP_DATA}/datasets/Set5", "meta_info_file": "meta.txt"}},
         "path": {"pretrain_network_g": "weights/rcan-x4.pth"}}, tmp_path / "root")
    assert opt["datasets"]["val"] == {"dataroot_gt": str(mine / "datasets" / "Set5"),
                                      "meta_info_file": str(tmp_path / "root" / "meta.txt")}
    assert opt["path"]["pretrain_network_g"] == str(tmp_path / "root" / "weights" / "rcan-x4.pth")
