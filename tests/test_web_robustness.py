"""The web app under load and failure: bounded previews, stages reported, cancelling, concurrent
sweeps, clean-up on SIGTERM, messages that name the user's file, batch failures on the page."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

import srapp
from local_services import CHROMIUM, free_port, needs_chromium, served
from srapp.archs import RCAN
from srapp.io.image_io import read_image, write_image
from srapp.engine.resize import imresize
from srapp.errors import Cancelled, UsageError
from srapp.web import Limits, RunRequest, WebService
from srapp.web import service as service_module
from srapp.web.service import (
    BICUBIC_FULL, DECODING, PACKING, PREVIEW_LONG_SIDE, PREVIEWS, SCORING, UPSCALING, UPSCALING_IMAGES, WAITING,
    Stage,
    WRITING,
)
from srapp.web import ui
from srapp.web.ui import CANCELLED_MESSAGE

REPOSITORY = Path(__file__).resolve().parents[1]



def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height // 8 + 2, width // 8 + 2, 3))
    return np.round(np.clip(imresize(noise, output_shape=(height, width)), 0, 1) * 255).astype(np.uint8)


class RecordingService(WebService):
    """Records each compare call's cancel event, tiles done and how it ended; with
    ``pause_after_first_tile`` a run waits after its first tile until it is cancelled (at most a
    minute), so a test can cancel it mid-run however fast the machine is."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[dict] = []
        self.pause_after_first_tile = False

    def compare(self, path, settings, gt_path=None, progress=None, cancel=None):
        call = {"cancel": cancel, "tiles": 0, "total": None, "ended": None}
        self.calls.append(call)

        def record(stage, done, total):
            if stage == UPSCALING:
                call["tiles"], call["total"] = done, total
            if progress is not None:
                progress(stage, done, total)
            if stage == UPSCALING and done == 1 and self.pause_after_first_tile:
                cancel.wait(60)

        try:
            result = super().compare(path, settings, gt_path, record, cancel)
        except BaseException as error:
            call["ended"] = type(error).__name__
            raise
        call["ended"] = "done"
        return result


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return srapp.save_checkpoint(RCAN(scale=2, num_groups=1, num_blocks=2, channels=8),
                                 tmp_path_factory.mktemp("model") / "tiny.pth")


@pytest.fixture
def service(tmp_path, tiny_checkpoint):
    return WebService(Limits(max_pixels=2_000_000), work_root=tmp_path / "work",
                      extra_models={"tiny-x2": tiny_checkpoint})


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_checkpoint):
    folder = tmp_path_factory.mktemp("web-robust")
    service = RecordingService(Limits(max_pixels=400_000, max_batch_files=4), work_root=folder / "work",
                               extra_models={"tiny-x2": tiny_checkpoint})
    with served(service, max_file_size="2mb") as url:
        yield {"url": url, "service": service, "checkpoint": tiny_checkpoint}


@pytest.fixture(scope="module")
def client(server):
    return Client(server["url"], verbose=False)


def recorder() -> tuple[list[tuple[str, int, int]], callable]:
    seen: list[tuple[str, int, int]] = []
    return seen, lambda stage, done, total: seen.append((stage.name, done, total))


# -- previews -------------------------------------------------------------------------------------

def test_previews_are_bounded_and_the_download_is_the_full_result(service, tiny_checkpoint, tmp_path, monkeypatch):
    image = smooth_image(100, 1100)  # a strip: the result's long side is over the limit, its pixels are few
    resized_to: list[tuple[int, int]] = []

    def recording_imresize(pixels, *args, output_shape=None, **kwargs):
        resized_to.append(tuple(output_shape))
        return imresize(pixels, *args, output_shape=output_shape, **kwargs)

    monkeypatch.setattr(service_module, "imresize", recording_imresize)
    comparison = service.compare(write_image(tmp_path / "photo.png", image), RunRequest("tiny-x2"))
    result = read_image(comparison.result_png)
    np.testing.assert_array_equal(result, srapp.upscale(image, tiny_checkpoint, device="cpu"))
    assert result.shape == (200, 2200, 3)
    shape = (round(200 * PREVIEW_LONG_SIDE / 2200), PREVIEW_LONG_SIDE)  # long side 2048, aspect kept
    result_preview, bicubic_preview = read_image(comparison.result_preview), read_image(comparison.bicubic_preview)
    assert result_preview.shape[:2] == bicubic_preview.shape[:2] == shape
    np.testing.assert_array_equal(result_preview, imresize(result, output_shape=shape))
    np.testing.assert_array_equal(bicubic_preview, imresize(image, output_shape=shape))  # straight from the input
    assert resized_to == [shape, shape]  # no full-size bicubic without a ground truth
    assert comparison.size == (2200, 200) and comparison.preview_size == (shape[1], shape[0])


def test_the_full_size_bicubic_is_made_for_the_metrics_only(service, tmp_path):
    truth = smooth_image(96, 120, seed=5)
    low = imresize(truth, scale=0.5)
    seen, progress = recorder()
    comparison = service.compare(write_image(tmp_path / "low.png", low), RunRequest("tiny-x2"),
                                 write_image(tmp_path / "truth.png", truth), progress)
    assert [row[0] for row in comparison.table] == ["tiny-x2", "bicubic"]
    bicubic_psnr = srapp.metrics.psnr(imresize(low, scale=2), truth, crop_border=2, y_channel=True)
    assert comparison.table[1][1] == pytest.approx(bicubic_psnr, abs=1e-3)
    names = [name for name, _, _ in seen]
    assert names.index(BICUBIC_FULL.name) < names.index(SCORING.name)


def test_previews_through_the_page_endpoint(client, server, tmp_path):
    image = smooth_image(64, 600, seed=2)
    slider, download, _, status = client.predict(
        handle_file(str(write_image(tmp_path / "wide.png", image))), None, "bicubic", "4", "auto", "auto", "auto",
        False, api_name="/compare")
    before, after = (read_image(item if isinstance(item, str) else item["path"]) for item in slider)
    shape = (round(256 * 2048 / 2400), 2048)
    assert before.shape == after.shape == (*shape, 3)
    full = read_image(download)
    np.testing.assert_array_equal(full, srapp.upscale(image, "bicubic", scale=4))
    assert full.shape == (256, 2400, 3)
    np.testing.assert_array_equal(after, imresize(full, output_shape=shape))
    np.testing.assert_array_equal(before, imresize(image, output_shape=shape))
    assert "bicubic x4 on cpu (numpy backend, fp64)" in status and "result 2400x256" in status


# -- progress and what ran ------------------------------------------------------------------------

def test_every_stage_is_reported_in_order(service, tmp_path):
    path = write_image(tmp_path / "photo.png", smooth_image(40, 600))
    seen, progress = recorder()
    comparison = service.compare(path, RunRequest("tiny-x2", srapp.UpscaleSettings(tile=128)), progress=progress)
    stages = [name for name, _, _ in seen]
    first = {name: stages.index(name) for name in stages}
    assert list(first) == [DECODING.name, UPSCALING.name, WRITING.name, PREVIEWS.name]
    tiles = [(done, total) for name, done, total in seen if name == UPSCALING.name]
    count = 1 + math.ceil((600 - 128) / (128 - 16))  # tiles of 128 with 16 shared cover 600 pixels
    assert tiles == [(0, None)] + [(done, count) for done in range(1, count + 1)]  # begun, then each tile
    assert [done for name, done, _ in seen if name == PREVIEWS.name] == [0, 1, 2]
    run = comparison.run
    upscaler = service.upscaler(RunRequest("tiny-x2"))
    assert (run.model, run.device, run.backend, run.precision) == ("tiny-x2", "cpu", upscaler.backend,
                                                                    upscaler.precision)
    assert f"tiny-x2 x2 on cpu ({upscaler.backend} backend, {upscaler.precision})" in comparison.describe()


def test_batch_reports_images_then_packing(service, tmp_path):
    paths = [str(write_image(tmp_path / f"b{i}.png", smooth_image(24, 32, seed=i))) for i in range(3)]
    seen, progress = recorder()
    outcome = service.batch(paths, RunRequest("bicubic", srapp.UpscaleSettings(scale=2)), progress)
    assert seen == [(UPSCALING_IMAGES.name, done, 3) for done in range(4)] + [(PACKING.name, 0, 1)]
    assert outcome.failures == [] and outcome.describe().startswith("3 of 3 images done; bicubic x2 on cpu")


# -- cancelling -----------------------------------------------------------------------------------

def test_cancel_stops_before_the_next_tile_and_removes_the_request_folder(service, tmp_path):
    path = write_image(tmp_path / "photo.png", smooth_image(64, 640))
    cancel = threading.Event()
    tiles: list[int] = []

    def progress(stage, done, total):
        if stage == UPSCALING:
            tiles.append(done)
            if done == 2:
                cancel.set()

    with pytest.raises(Cancelled):
        service.compare(path, RunRequest("tiny-x2", srapp.UpscaleSettings(tile=32)), progress=progress, cancel=cancel)
    assert tiles == [0, 1, 2]  # begun, then 2 of 40 tiles: nothing ran after the cancel
    assert list(service.results_root.iterdir()) == []
    service.compare(path, RunRequest("bicubic", srapp.UpscaleSettings(scale=2)))  # the device slot was released


def test_cancel_stops_a_batch_before_its_next_image(service, tmp_path):
    paths = [str(write_image(tmp_path / f"b{i}.png", smooth_image(24, 32, seed=i))) for i in range(4)]
    cancel = threading.Event()
    images: list[int] = []

    def progress(stage, done, total):
        if stage == UPSCALING_IMAGES and done:
            images.append(done)
            cancel.set()

    with pytest.raises(Cancelled):
        service.batch(paths, RunRequest("tiny-x2"), progress, cancel)
    assert images == [1] and list(service.results_root.iterdir()) == []


@contextlib.contextmanager
def request_held(service: WebService, path, at: Stage = DECODING) -> Iterator[None]:
    """A request of ``path`` stopped as it starts stage ``at`` (by default holding the device slot)
    until the block ends."""
    holding, release = threading.Event(), threading.Event()

    def hold(stage, done, total):
        if stage == at and done == 0:
            holding.set()
            release.wait(30)

    first = threading.Thread(target=service.compare, args=(path, RunRequest("tiny-x2")), kwargs={"progress": hold})
    first.start()
    try:
        assert holding.wait(30)
        yield
    finally:
        release.set()
        first.join(30)


def test_uploads_are_decoded_only_inside_the_device_slot(service, tmp_path):
    path = write_image(tmp_path / "photo.png", smooth_image(32, 32))
    seen, progress = recorder()
    with request_held(service, path):
        second = threading.Thread(target=service.compare, args=(path, RunRequest("tiny-x2")),
                                  kwargs={"progress": progress})
        second.start()
        time.sleep(0.5)
        assert [name for name, _, _ in seen] == [WAITING.name]  # waiting, not decoding, while the slot is taken
    second.join(30)
    assert [name for name, _, _ in seen][:2] == [WAITING.name, DECODING.name]


def test_cancel_while_waiting_for_the_slot(service, tmp_path):
    path = write_image(tmp_path / "photo.png", smooth_image(32, 32))
    cancel = threading.Event()
    cancel.set()
    with request_held(service, path), pytest.raises(Cancelled):
        service.compare(path, RunRequest("tiny-x2"), cancel=cancel)


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_api_cancel_stops_the_worker_thread(client, server, tmp_path):
    service = server["service"]
    path = write_image(tmp_path / "photo.png", smooth_image(400, 600, seed=3))
    calls_before = len(service.calls)
    service.pause_after_first_tile = True
    try:
        job = client.submit(handle_file(str(path)), None, "tiny-x2", "2", "16", "auto", "auto", False,
                            api_name="/compare")
        _wait_for(lambda: len(service.calls) > calls_before and service.calls[-1]["tiles"] >= 1)
        call = service.calls[-1]
        job.cancel()
        _wait_for(lambda: call["ended"] is not None)
    finally:
        service.pause_after_first_tile = False
    assert call["ended"] == "Cancelled" and call["cancel"].is_set()
    assert call["tiles"] == 1  # the worker stopped before its next tile


@pytest.mark.parametrize("gradio_first", [True, False])
def test_the_cancel_button_reports_whichever_request_arrives_first(gradio_first):
    runs, key = ui._Runs(), ("session", "single")

    async def scenario() -> list[bool]:
        started = threading.Event()
        task = asyncio.ensure_future(runs.run(key, lambda cancel: (started.set(), cancel.wait(30))))
        assert await asyncio.to_thread(started.wait, 30)
        reports = []
        if gradio_first:
            task.cancel()  # Gradio's cancel of the request, then the button's report
            with pytest.raises(asyncio.CancelledError):
                await task
            reports.append(runs.cancel(key))
        else:
            reports.append(runs.cancel(key))  # the report sets the run's event: the work returns
            await task
        reports.append(runs.cancel(key))  # nothing is running any more
        return reports

    assert asyncio.run(scenario()) == [True, False]


# -- files, signals and messages ------------------------------------------------------------------

def test_concurrent_sweeps_of_expired_folders_never_fail(service):
    old = time.time() - service.limits.work_ttl_seconds - 10
    for index in range(400):
        folder = service.results_root / f"stale{index}"
        folder.mkdir()
        (folder / "result.png").write_bytes(b"x" * 100)
        os.utime(folder, (old, old))
    fresh = service.results_root / "fresh"
    fresh.mkdir()
    start, errors = threading.Barrier(8), []

    def sweep() -> None:
        start.wait()
        try:
            service.sweep()
        except Exception as error:  # noqa: BLE001 (the assertion below reports it)
            errors.append(error)

    threads = [threading.Thread(target=sweep) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [folder.name for folder in service.results_root.iterdir()] == ["fresh"]


def _start_with_stop_signals_at_their_default(*args, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` whose child starts with SIGINT's and SIGHUP's default actions, as from a terminal.

    A shell without job control starts background jobs with SIGINT ignored (``make test &`` in a
    script, as some CI runners do), ``nohup`` ignores SIGHUP, exec passes that on, and the server then
    rightly keeps ignoring them. A handler, unlike ignoring, is reset to the default by exec, so one
    is installed here for the spawn (``preexec_fn`` is unsafe with the threads a test has)."""
    previous = {signum: signal.signal(signum, signal.default_int_handler) for signum in (signal.SIGINT, signal.SIGHUP)}
    try:
        return subprocess.Popen(*args, **kwargs)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_the_work_folder_is_removed_when_the_server_is_stopped(tmp_path, stop):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPOSITORY), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("GRADIO_TEMP_DIR", None)
    port = free_port()
    server = _start_with_stop_signals_at_their_default([sys.executable, str(REPOSITORY / "app.py"), "--port", str(port)],
                                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                               text=True)
    try:
        def ready() -> bool:
            assert server.poll() is None, server.communicate()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
                return True
            except OSError:
                return False

        _wait_for(ready, timeout=240)
        image = write_image(tmp_path / "photo.png", smooth_image(24, 32))
        result = Client(f"http://127.0.0.1:{port}/", verbose=False).predict(handle_file(str(image)), "bicubic", 2,
                                                                              api_name="/upscale")
        assert read_image(result).shape == (48, 64, 3)
        (work,) = tmp_path.glob("srapp-web-*")
        assert any(path.suffix == ".png" for path in work.rglob("*"))
        server.send_signal(stop)
        _, stderr = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert not work.exists()
    assert "Traceback" not in stderr
    assert server.returncode == (0 if stop == signal.SIGINT else -stop)  # as without the handler


def test_a_non_image_upload_is_named_without_server_paths(client, server, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n")
    photo = write_image(tmp_path / "photo.png", smooth_image(24, 32))
    for image, truth in ((notes, None), (photo, notes)):
        with pytest.raises(Exception) as refused:
            client.predict(handle_file(str(image)), None if truth is None else handle_file(str(truth)), "bicubic",
                           "2", "auto", "auto", "auto", False, api_name="/compare")
        message = str(refused.value)
        assert "notes.txt: not a readable image" in message
        work = str(server["service"].work_root)
        assert work not in message and "gradio-cache" not in message and str(tmp_path) not in message


def test_batch_takes_scale_and_tile_as_strings_or_numbers(client, tmp_path):
    path = write_image(tmp_path / "small.png", smooth_image(20, 24))
    for scale, tile in (("3", "16"), (3, 16), (3.0, "auto")):
        archive, _, failures, summary = client.predict([handle_file(str(path))], "bicubic", scale, tile, "auto",
                                                       "auto", False, api_name="/batch")
        assert failures["data"] == []
        assert "1 of 1 images done" in summary and "bicubic x3" in summary
    with pytest.raises(Exception, match="scale must be a whole number"):
        client.predict([handle_file(str(path))], "bicubic", "three", "auto", "auto", "auto", False, api_name="/batch")


# -- the page -------------------------------------------------------------------------------------

@needs_chromium
def test_browser_cancel_button_stops_the_run(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    service = server["service"]
    path = write_image(tmp_path / "photo.png", smooth_image(400, 600, seed=4))
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server["url"])
        page.locator("#input-image input[type=file]").set_input_files(str(path))
        page.get_by_label("Model").first.click()
        page.get_by_role("option", name="tiny-x2").click()
        tile = page.get_by_label("Tile (input pixels)").first
        tile.fill("16")
        tile.press("Enter")
        calls_before = len(service.calls)
        service.pause_after_first_tile = True
        try:
            page.locator("#upscale-button").click()
            _wait_for(lambda: len(service.calls) > calls_before and service.calls[-1]["tiles"] >= 1)
            expect(page.get_by_text("upscaling", exact=False).first).to_be_visible(timeout=30_000)
            call = service.calls[-1]
            page.locator("#cancel-button").click()
            expect(page.locator("#status")).to_contain_text(CANCELLED_MESSAGE, timeout=30_000)
            page.locator("#cancel-button").click()
            expect(page.locator("#status")).to_contain_text(ui.NOTHING_TO_CANCEL, timeout=30_000)
        finally:
            service.pause_after_first_tile = False
        browser.close()
    _wait_for(lambda: call["ended"] is not None)
    assert call["ended"] == "Cancelled" and call["tiles"] == 1


def test_a_ground_truth_of_the_wrong_size_is_refused_before_the_run(service, tmp_path):
    seen, progress = recorder()
    with pytest.raises(UsageError, match="ground truth is 30x20 but the result will be 64x48"):
        service.compare(write_image(tmp_path / "low.png", smooth_image(24, 32)), RunRequest("tiny-x2"),
                        write_image(tmp_path / "truth.png", smooth_image(20, 30)), progress)
    assert UPSCALING.name not in [name for name, _, _ in seen] and list(service.results_root.iterdir()) == []


def test_a_folder_being_written_is_not_swept(service, tmp_path):
    path = write_image(tmp_path / "photo.png", smooth_image(24, 32))
    with request_held(service, path, at=PREVIEWS):
        (folder,) = service.results_root.iterdir()
        old = time.time() - service.limits.work_ttl_seconds - 10
        os.utime(folder, (old, old))
        service.sweep()
        assert folder.is_dir()
    # the result is its own preview
    assert {p.name for p in folder.iterdir()} == {"photo_tiny-x2.png", "preview-bicubic.png"}


@pytest.mark.parametrize("given", [{"argv": ["--max-pixels", "0"]}, {"env": "0"}, {"env": "-3"}])
def test_app_refuses_a_pixel_limit_below_one_before_serving(given):
    environment = {**os.environ, "SRAPP_MAX_PIXELS": given.get("env", "")} if "env" in given else os.environ
    completed = subprocess.run([sys.executable, str(REPOSITORY / "app.py"), *given.get("argv", [])],
                               capture_output=True, text=True, timeout=120, env=environment)
    assert completed.returncode == 2, completed.stderr
    assert "--max-pixels" in completed.stderr and "must be at least 1" in completed.stderr
