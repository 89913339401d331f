"""The web app over HTTP with gradio_client, and in a real browser (headless Chromium + Playwright)."""

from __future__ import annotations

import csv
import inspect
import os
import re
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from spandrel.architectures.Compact import Compact

import srapp
from local_services import CHROMIUM, needs_chromium, served
from srapp.archs import RCAN
from srapp.io.image_io import read_image, write_image
from srapp.engine.resize import imresize
from srapp.errors import CheckpointError
from srapp.metrics import lpips, psnr, ssim
from srapp.web import Limits, RunRequest, WebService




def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height // 4 + 2, width // 4 + 2, 3))
    return np.round(np.clip(imresize(noise, output_shape=(height, width)), 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    torch.manual_seed(0)
    checkpoint = srapp.save_checkpoint(RCAN(scale=2, num_groups=1, num_blocks=2, channels=8), folder / "tiny.pth")
    models = folder / "models"  # the models folder, with a community model (spandrel's Compact)
    models.mkdir()
    torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2).state_dict(),
               models / "compact-x2.pth")
    service = WebService(Limits(max_pixels=200_000, max_batch_files=4), work_root=folder / "work",
                         extra_models={"tiny-x2": checkpoint}, models_folder=models)
    with served(service, max_file_size="1mb") as url:
        yield {"url": url, "checkpoint": checkpoint, "service": service, "folder": folder, "models": models}


@pytest.fixture(scope="module")
def client(server):
    return Client(server["url"], verbose=False)


@pytest.fixture
def image_file(tmp_path):
    image = smooth_image(40, 52)
    return image, write_image(tmp_path / "photo.png", image)


def test_upscale_endpoint_returns_the_png_srapp_upscale_gives(client, server, image_file):
    image, path = image_file
    result = client.predict(handle_file(str(path)), "tiny-x2", api_name="/upscale")
    assert Path(result).suffix == ".png"
    expected = srapp.upscale(image, server["checkpoint"], device="cpu")
    np.testing.assert_array_equal(read_image(result), expected)
    assert read_image(result).shape == (80, 104, 3)

    tiled = client.predict(handle_file(str(path)), "tiny-x2", None, "16", api_name="/upscale")  # its own scale
    np.testing.assert_array_equal(read_image(tiled), srapp.upscale(image, server["checkpoint"], tile=16, device="cpu"))


def test_upscale_endpoint_keeps_sixteen_bit_and_alpha(client, tmp_path):
    rgba16 = (np.random.default_rng(2).random((20, 24, 4)) * 65535).astype(np.uint16)
    path = write_image(tmp_path / "deep.png", rgba16)
    result = read_image(client.predict(handle_file(str(path)), "bicubic", 3, api_name="/upscale"))
    np.testing.assert_array_equal(result, srapp.upscale(rgba16, "bicubic", scale=3))
    assert result.dtype == np.uint16 and result.shape == (60, 72, 4)


def test_evaluate_endpoint_matches_the_metrics(client, tmp_path):
    truth = smooth_image(64, 64, seed=3)
    degraded = imresize(imresize(truth, scale=0.5), scale=2)
    scores = client.predict(handle_file(str(write_image(tmp_path / "sr.png", degraded))),
                            handle_file(str(write_image(tmp_path / "gt.png", truth))), 2, api_name="/evaluate")
    assert scores["psnr"] == pytest.approx(psnr(degraded, truth, crop_border=2, y_channel=True), abs=1e-4)
    assert scores["ssim"] == pytest.approx(ssim(degraded, truth, crop_border=2, y_channel=True), abs=1e-4)
    assert scores["lpips"] == pytest.approx(lpips(degraded, truth), abs=1e-4)


def test_four_simultaneous_requests_all_succeed(server, tmp_path):
    paths = [write_image(tmp_path / f"in{i}.png", smooth_image(32, 36, seed=i)) for i in range(4)]

    def call(path: Path) -> np.ndarray:
        return read_image(Client(server["url"], verbose=False).predict(handle_file(str(path)), "tiny-x2",
                                                                       api_name="/upscale"))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, paths))
    for path, result in zip(paths, results):
        np.testing.assert_array_equal(result, srapp.upscale(path, server["checkpoint"], device="cpu"))


def test_bad_uploads_get_messages_and_the_server_keeps_serving(client, tmp_path, image_file):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really" * 20)
    with pytest.raises(Exception, match=r"corrupt\.png: not a readable image"):
        client.predict(handle_file(str(corrupt)), "bicubic", 2, api_name="/upscale")
    huge = write_image(tmp_path / "huge.png", np.zeros((500, 500, 3), np.uint8))
    with pytest.raises(Exception, match=r"huge\.png: 500x500 is 0\.25 megapixels, over the limit of 0\.2 megapixels"):
        client.predict(handle_file(str(huge)), "bicubic", 2, api_name="/upscale")
    with pytest.raises(Exception, match=r"photo\.png: 52x40 upscaled x1e\+06 makes the result 52000000x40000000 .*"
                                        r"over the limit of 256 megapixels of output"):  # refused before any work
        client.predict(handle_file(str(image_file[1])), "bicubic", 1000000, api_name="/upscale")
    with pytest.raises(Exception, match="unknown model 'passwd'; choose one of .*tiny-x2"):  # never a server path
        client.predict(handle_file(str(image_file[1])), "/etc/passwd", api_name="/upscale")
    other = write_image(tmp_path / "other.png", np.zeros((30, 30, 3), np.uint8))
    with pytest.raises(Exception, match="ground truth is 30x30 but the image is 52x40"):
        client.predict(handle_file(str(image_file[1])), handle_file(str(other)), api_name="/evaluate")
    result = client.predict(handle_file(str(image_file[1])), "bicubic", 2, api_name="/upscale")
    assert read_image(result).shape == (80, 104, 3)


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    noise = np.random.default_rng(4).integers(0, 256, (700, 700, 3), dtype=np.uint8)  # ~1.5 MB as PNG
    path = write_image(tmp_path / "big.png", noise)
    assert path.stat().st_size > 1_000_000
    with pytest.raises(Exception, match="(?i)file.*(too large|size)"):
        client.predict(handle_file(str(path)), "bicubic", 2, api_name="/upscale")


def test_batch_returns_a_zip_of_pngs_and_a_csv_report(client, tmp_path):
    good = [write_image(tmp_path / f"img{i}.png", smooth_image(24, 28, seed=i)) for i in range(2)]
    (tmp_path / "broken.jpg").write_bytes(b"nope")
    archive, report, failures, summary = client.predict(
        [handle_file(str(p)) for p in [*good, tmp_path / "broken.jpg"]], "bicubic", "2", api_name="/batch")
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == ["img0.png", "img1.png"]
        bundle.extractall(tmp_path / "unzipped")
    for path in good:
        np.testing.assert_array_equal(read_image(tmp_path / "unzipped" / path.name),
                                      srapp.upscale(path, "bicubic", scale=2))
    rows = list(csv.DictReader(open(report)))
    assert [row["input"] for row in rows] == ["img0.png", "img1.png", "broken.jpg"]
    assert "broken.jpg" in rows[2]["error"] and rows[0]["error"] == ""
    assert [row[0] for row in failures["data"]] == ["broken.jpg"]  # the page lists it too
    assert failures["data"][0][1] == rows[2]["error"] and "not a readable image" in failures["data"][0][1]
    assert str(tmp_path) not in failures["data"][0][1] and "2 of 3 images done, 1 failed" in summary


def test_old_results_are_swept(server):
    service = server["service"]
    stale = service.results_root / "stale"
    stale.mkdir()
    old = time.time() - service.limits.work_ttl_seconds - 10
    os.utime(stale, (old, old))
    service.sweep()
    assert not stale.exists() and (service.work_root / "examples").is_dir()


def open_page(browser, url: str, image: Path | None = None, height: int = 1200):
    """A new page of the app at ``url`` (1280 wide, ``height`` high), with ``image`` chosen as the
    input when given."""
    page = browser.new_page(viewport={"width": 1280, "height": height})
    page.goto(url)
    if image is not None:
        page.locator("#input-image input[type=file]").set_input_files(str(image))
    return page


@needs_chromium
def test_browser_uploads_upscales_and_shows_the_result(server, image_file, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    screenshot = Path(os.environ.get("SRAPP_SCREENSHOT_DIR", tmp_path)) / "web-app.png"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = open_page(browser, server["url"], image_file[1], height=1000)
        page.get_by_label("Model").first.click()
        page.get_by_role("option", name=re.compile(r"^bicubic\b")).click()  # labels say what each model is for
        page.locator("#upscale-button").click()
        link = page.locator("#result-file a").first
        expect(link).to_be_visible(timeout=60_000)
        assert "photo_bicubic" in page.locator("#result-file").inner_text()
        expect(page.locator("#comparison img").first).to_be_visible(timeout=30_000)
        with page.expect_download() as download:
            link.click()
        download.value.save_as(tmp_path / "downloaded.png")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert screenshot.stat().st_size > 10_000
    np.testing.assert_array_equal(read_image(tmp_path / "downloaded.png"),
                                  srapp.upscale(image_file[0], "bicubic", scale=4))


def test_the_models_folder_is_offered_with_architecture_scale_and_licence(server, image_file, tmp_path):
    service = server["service"]
    assert ("compact-x2 (Compact x2, permissive (spandrel core))", "compact-x2") in service.model_choices()
    result = service.upscale_to_png(image_file[1], RunRequest(model="compact-x2"))
    np.testing.assert_array_equal(read_image(result),
                                  srapp.upscale(image_file[0], server["models"] / "compact-x2.pth", device="cpu"))


def test_the_api_takes_a_model_added_to_the_folder_after_the_server_started(client, server, image_file, tmp_path):
    added = server["models"] / "added-later-x3.pth"
    torch.manual_seed(3)
    torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=3).state_dict(), added)
    try:
        result = client.predict(handle_file(str(image_file[1])), "added-later-x3", api_name="/upscale")
        np.testing.assert_array_equal(read_image(result), srapp.upscale(image_file[0], added, device="cpu"))
        archive, _, failures, _ = client.predict([handle_file(str(image_file[1]))], "added-later-x3",
                                                 api_name="/batch")
        assert failures["data"] in ([], [["", ""]]) and zipfile.ZipFile(archive).namelist() == ["photo.png"]
    finally:
        added.unlink()
    with pytest.raises(Exception, match="unknown model 'added-later-x3'"):  # gone from the folder: refused
        client.predict(handle_file(str(image_file[1])), "added-later-x3", api_name="/upscale")


def test_uploaded_models_are_validated_and_kept_only_when_asked(tmp_path):
    models = tmp_path / "models"
    service = WebService(Limits(max_model_bytes=200_000), work_root=tmp_path / "work", models_folder=models)
    upload = tmp_path / "upload" / "my x3.pth"
    upload.parent.mkdir()
    torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=3).state_dict(), upload)
    name = service.add_upload(upload)
    assert name == "my_x3" and name in service.model_names() and not models.exists()  # served, not kept
    assert ("my_x3 (Compact x3, permissive (spandrel core))", "my_x3") in service.model_choices()
    assert service.upscaler(RunRequest(model=name)).scale == 3
    kept = service.add_upload(upload, keep=True)
    assert kept == "my_x3_" and (models / "my_x3_.pth").read_bytes() == upload.read_bytes()
    broken = tmp_path / "upload" / "broken.pth"
    broken.write_bytes(b"no model here")
    with pytest.raises(CheckpointError, match=r"^broken\.pth: not a readable PyTorch checkpoint") as refused:
        service.add_upload(broken)
    assert str(tmp_path) not in str(refused.value)
    large = tmp_path / "upload" / "large.pth"
    torch.save({"w": torch.zeros(100_000)}, large)
    with pytest.raises(CheckpointError, match=r"large\.pth: 0\.4\d* MB is over the limit of 0\.2 MB"):
        service.add_upload(large)
    assert sorted(path.name for path in models.iterdir()) == ["my_x3_.pth"]


def test_one_model_size_limit_for_the_command_line_the_service_and_the_servers_upload_cap(tmp_path):
    from srapp.engine.model_catalog import MAX_MODEL_BYTES, add_model
    from srapp.web.service import upload_limit

    defaults = Limits()
    assert inspect.signature(add_model).parameters["max_bytes"].default == MAX_MODEL_BYTES  # srapp models --add
    assert defaults.max_model_bytes == MAX_MODEL_BYTES == upload_limit(defaults) > defaults.max_image_bytes
    large = tmp_path / "large.pth"
    torch.save({"w": torch.zeros(100_000)}, large)
    with pytest.raises(CheckpointError, match=r"large\.pth: 0\.4\d* MB is over the limit of 0\.2 MB for a model file"):
        add_model(large, tmp_path / "models", max_bytes=200_000)
    assert not (tmp_path / "models").exists()


def test_the_server_admits_a_model_over_the_image_limit_and_refuses_such_an_image(tmp_path):
    import httpx
    from srapp.web.service import upload_limit

    limits = Limits(max_image_bytes=100_000, max_model_bytes=1_500_000)
    service = WebService(limits, work_root=tmp_path / "work", models_folder=tmp_path / "models")
    model = tmp_path / "wide-x2.pth"
    torch.manual_seed(6)
    torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=128, num_conv=2, upscale=2).state_dict(), model)
    assert 1_000_000 < model.stat().st_size < 1_500_000
    image = write_image(tmp_path / "noisy.png",
                        np.random.default_rng(5).integers(0, 256, (250, 250, 3), dtype=np.uint8))
    assert image.stat().st_size > 150_000
    with served(service, max_file_size=upload_limit(limits)) as url:  # the cap launch() sets
        with open(model, "rb") as sent:  # the page's upload route
            response = httpx.post(f"{url}gradio_api/upload", files={"files": (model.name, sent)}, timeout=60)
        assert response.status_code == 200, response.text
        assert service.add_upload(response.json()[0]) == "wide-x2"
        with pytest.raises(Exception, match=r"noisy\.png: 0\.1\d* MB is over the limit of 0\.1 MB for an image file"):
            Client(url, verbose=False).predict(handle_file(str(image)), "bicubic", 2, api_name="/upscale")
    outcome = service.batch([str(image), str(write_image(tmp_path / "small.png", smooth_image(20, 24)))],
                            RunRequest("bicubic", srapp.UpscaleSettings(scale=2)))
    assert [name for name, _ in outcome.failures] == ["noisy.png"] and outcome.total == 2  # that file only
    assert "over the limit of 0.1 MB for an image file" in outcome.failures[0][1]


@needs_chromium
def test_browser_upscales_with_a_model_of_the_folder_and_an_uploaded_one(server, image_file, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    upload = tmp_path / "uploaded-x3.pth"
    torch.manual_seed(1)
    torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=3).state_dict(), upload)
    downloads = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = open_page(browser, server["url"], image_file[1])
        page.get_by_label("Model").first.click()
        page.get_by_role("option", name=re.compile(r"^compact-x2 \(Compact x2, permissive")).click()
        for step in ("folder", "upload"):
            if step == "upload":  # the page's own upload: validated, then chosen
                page.get_by_text("Use your own model").click()
                page.locator("#model-file input[type=file]").set_input_files(str(upload))
                page.locator("#add-model-button").click()
                expect(page.locator("#model-status")).to_contain_text("Added uploaded-x3 (Compact x3", timeout=60_000)
            page.locator("#upscale-button").click()
            link = page.locator("#result-file a").first
            expect(page.locator("#result-file")).to_contain_text(
                "photo_compact-x2" if step == "folder" else "photo_uploaded-x3", timeout=60_000)
            with page.expect_download() as download:
                link.click()
            download.value.save_as(tmp_path / f"{step}.png")
            downloads.append(read_image(tmp_path / f"{step}.png"))
        browser.close()
    np.testing.assert_array_equal(downloads[0], srapp.upscale(image_file[0], server["models"] / "compact-x2.pth",
                                                              device="cpu"))
    np.testing.assert_array_equal(downloads[1], srapp.upscale(image_file[0], upload, device="cpu"))


@needs_chromium
def test_each_page_load_offers_the_models_folder_as_it_is_then(server, image_file, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    added, upload = server["models"] / "added-for-pages-x3.pth", tmp_path / "kept-upload-x2.pth"
    torch.manual_seed(4)
    torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2).state_dict(), upload)
    kept = server["models"] / upload.name

    def offered(page, close: bool = True) -> list[str]:
        page.get_by_label("Model").first.click()
        expect(page.get_by_role("option").first).to_be_visible()
        options = page.get_by_role("option").all_inner_texts()
        if close:
            page.locator("h1").first.click()
        return options

    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            early = open_page(browser, server["url"])
            assert not any(option.startswith("added-for-pages-x3") for option in offered(early))
            torch.save(Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=3).state_dict(), added)
            early.get_by_text("Use your own model").click()  # an upload kept in the folder by the early page
            early.get_by_label("Keep it in my models folder").check()
            early.locator("#model-file input[type=file]").set_input_files(str(upload))
            early.locator("#add-model-button").click()
            expect(early.locator("#model-status")).to_contain_text("kept in the models folder", timeout=60_000)
            assert kept.read_bytes() == upload.read_bytes()
            assert any(option.startswith("added-for-pages-x3 (Compact x3") for option in offered(early))

            late = open_page(browser, server["url"], image_file[1])  # a second page load sees both
            options = offered(late, close=False)
            assert any(option.startswith("added-for-pages-x3 (Compact x3, permissive") for option in options)
            assert any(option.startswith("kept-upload-x2 (Compact x2, permissive") for option in options)
            late.get_by_role("option", name=re.compile(r"^added-for-pages-x3 ")).click()
            late.locator("#upscale-button").click()
            expect(late.locator("#result-file")).to_contain_text("photo_added-for-pages-x3", timeout=60_000)
            with late.expect_download() as download:
                late.locator("#result-file a").first.click()
            download.value.save_as(tmp_path / "late.png")
            browser.close()
        np.testing.assert_array_equal(read_image(tmp_path / "late.png"),
                                      srapp.upscale(image_file[0], added, device="cpu"))
    finally:
        added.unlink(missing_ok=True)
        kept.unlink(missing_ok=True)


@pytest.mark.parametrize("target", ["/etc/passwd", "{checkpoint}"])
def test_files_outside_the_app_are_not_served(server, target):
    import urllib.error
    import urllib.request

    path = target.format(checkpoint=server["checkpoint"])
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{server['url']}gradio_api/file={path}", timeout=10)
    assert refused.value.code in (403, 404)


def test_compare_scores_the_result_and_bicubic_against_the_ground_truth(server, tmp_path):
    truth = smooth_image(64, 72, seed=7)
    low = imresize(truth, scale=0.5)
    service = server["service"]
    settings = RunRequest(model="tiny-x2")
    comparison = service.compare(write_image(tmp_path / "low.png", low), settings,
                                 write_image(tmp_path / "truth.png", truth))
    table = comparison.table
    # a small result is its own preview, and bicubic's preview is the full bicubic upscale
    result, bicubic = read_image(comparison.result_preview), read_image(comparison.bicubic_preview)
    np.testing.assert_array_equal(read_image(comparison.result_png), result)
    np.testing.assert_array_equal(result, srapp.upscale(low, server["checkpoint"], device="cpu"))
    np.testing.assert_array_equal(bicubic, imresize(low, scale=2))
    assert [row[0] for row in table] == ["tiny-x2", "bicubic"]
    for row, image in zip(table, (result, bicubic)):
        assert row[1] == pytest.approx(psnr(image, truth, crop_border=2, y_channel=True), abs=1e-3)
        assert row[2] == pytest.approx(ssim(image, truth, crop_border=2, y_channel=True), abs=1e-3)
        assert row[3] == pytest.approx(lpips(image, truth), abs=1e-3)
