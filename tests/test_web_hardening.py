"""The web app's promises under awkward conditions: metadata kept, one slot per GPU whatever it is
called, no server path in any message, clean-up after a hang-up or a crash, every stage shown,
scale parsed as the command line parses it, a busy port said in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

import srapp
from bad_images import SRGB_PROFILE
from local_services import CHROMIUM, needs_chromium, served
from srapp.archs import RCAN
from srapp.engine.devices import resolve_device
from srapp.io.image_io import write_image
from srapp.io.metadata import ImageMetadata
from srapp.engine.resize import imresize
from srapp.errors import Cancelled, ImageError, UsageError
from srapp.web import Limits, RunRequest, WebService
from srapp.web import service as service_module
from srapp.web import work_folders
from srapp.web.service import WAITING


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height // 8 + 2, width // 8 + 2, 3))
    return np.round(np.clip(imresize(noise, output_shape=(height, width)), 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return srapp.save_checkpoint(RCAN(scale=2, num_groups=1, num_blocks=2, channels=8),
                                 tmp_path_factory.mktemp("model") / "tiny.pth")


@pytest.fixture
def service(tmp_path, tiny_checkpoint):
    return WebService(Limits(max_pixels=2_000_000), work_root=tmp_path / "work",
                      extra_models={"tiny-x2": tiny_checkpoint})


# -- metadata (item 13) ---------------------------------------------------------------------------

def _camera_exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: srapp turns the pixels upright and writes orientation 1
    exif[0x010F] = "srapp camera"
    return exif.tobytes()[6:]  # TIFF-structured, without the "Exif\0\0" prefix


def _assert_metadata_kept(path) -> None:
    with Image.open(path) as written:
        assert written.info.get("icc_profile") == SRGB_PROFILE
        exif = written.getexif()
        assert exif[0x010F] == "srapp camera" and exif.get(0x0112) == 1


@pytest.mark.parametrize("operation", ["upscale_to_png", "compare"])
def test_single_image_results_keep_the_icc_profile_and_exif(service, tmp_path, operation):
    photo = write_image(tmp_path / "photo.png", smooth_image(24, 32), metadata=ImageMetadata(SRGB_PROFILE, _camera_exif()))
    settings = RunRequest("bicubic", srapp.UpscaleSettings(scale=2))
    if operation == "upscale_to_png":
        _assert_metadata_kept(service.upscale_to_png(photo, settings))
    else:
        comparison = service.compare(photo, settings)
        for written in (comparison.result_png, comparison.result_preview, comparison.bicubic_preview):
            _assert_metadata_kept(written)


# -- device slots (item 20) -----------------------------------------------------------------------

@pytest.fixture
def two_fake_gpus(monkeypatch):
    """A machine that says it has two GPUs, the first current (nothing is run on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_one_gpu_has_one_name(two_fake_gpus):
    first = torch.device("cuda", 0)
    assert resolve_device("auto") == resolve_device("cuda") == resolve_device(torch.device("cuda")) == first
    assert resolve_device("cuda:0") == first and str(resolve_device("auto")) == "cuda:0"
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("auto", local_rank=3) == torch.device("cuda", 1)
    assert resolve_device("cpu:0") == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match=r"'cuda:2' requested but this machine has 2 GPU"):
        resolve_device("cuda:2")


@pytest.mark.parametrize(("holding", "asking"), [("auto", "cuda:0"), ("cuda", "cuda:0"), ("cuda:0", "auto")])
def test_requests_naming_one_gpu_differently_share_its_slot(two_fake_gpus, service, holding, asking):
    cancel, seen = threading.Event(), []

    def progress(stage, done, total):
        seen.append(stage)
        cancel.set()  # waiting for the slot is what this test looks for: stop there

    with service._run(resolve_device(holding), None, None):
        with pytest.raises(Cancelled), service._run(resolve_device(asking), progress, cancel):
            pass
    assert seen == [WAITING]
    with service._run(resolve_device("cuda:1"), None, None), service._run(resolve_device("auto"), None, None):
        pass  # another GPU has its own slot


# -- no server path in a web message (item 18) -----------------------------------------------------

def test_scrub_keeps_file_names_and_drops_folders(tmp_path):
    models = tmp_path / "my models"
    service = WebService(work_root=tmp_path / "work", extra_models={"mine-x2": models / "net.pth"})
    assert service.scrub(f"{models / 'net.pth'}: not a readable PyTorch checkpoint") == \
        "net.pth: not a readable PyTorch checkpoint"  # a known folder goes whole, blanks and all
    assert service.scrub("/srv/data/photo.png: cannot write (No space left on device) at 1/2") == \
        "photo.png: cannot write (No space left on device) at 1/2"
    assert service.scrub("'/etc/hostname' and /var/tmp/x/y.png, see http://example.com/a/b") == \
        "'hostname' and y.png, see http://example.com/a/b"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-hardening")
    broken = folder / "served models" / "broken-x2.pth"
    broken.parent.mkdir()
    broken.write_bytes(b"not a checkpoint")
    service = WebService(Limits(max_pixels=400_000), work_root=folder / "work", extra_models={"broken-x2": broken})
    with served(service, max_file_size="2mb") as url:
        yield {"url": url, "service": service, "folder": folder}


def _assert_no_server_path(message: str, server) -> None:
    for path in (str(server["folder"]), str(server["service"].work_root), "/tmp/", "gradio-cache", "served models"):
        assert path not in message, message


def test_an_unreadable_served_checkpoint_is_named_without_its_folder(server, tmp_path):
    photo = write_image(tmp_path / "photo.png", smooth_image(16, 16))
    with pytest.raises(Exception) as refused:
        Client(server["url"], verbose=False).predict(handle_file(str(photo)), "broken-x2", api_name="/upscale")
    assert "broken-x2.pth: not a readable" in str(refused.value)
    _assert_no_server_path(str(refused.value), server)


def test_a_write_failure_is_named_without_server_paths(server, tmp_path, monkeypatch):
    def full_disk(path, *args, **kwargs):
        raise ImageError(path, "cannot write (No space left on device)")

    monkeypatch.setattr(service_module, "write_image", full_disk)
    photo = write_image(tmp_path / "photo.png", smooth_image(16, 16))
    for endpoint, arguments in (("/upscale", ("bicubic", 2)),
                                ("/compare", (None, "bicubic", "2", "auto", "auto", "auto", False))):
        with pytest.raises(Exception) as refused:
            Client(server["url"], verbose=False).predict(handle_file(str(photo)), *arguments, api_name=endpoint)
        assert "photo_bicubic.png: cannot write (No space left on device)" in str(refused.value), endpoint
        _assert_no_server_path(str(refused.value), server)


def test_a_server_path_sent_as_a_file_is_not_echoed(server):
    secret = server["folder"] / "private" / "notes.txt"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text("not for clients")
    sent = {"path": str(secret), "meta": {"_type": "gradio.FileData"}}  # a raw HTTP client, no upload
    request = urllib.request.Request(f"{server['url']}gradio_api/call/upscale", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"data": [sent, "bicubic", 2]}).encode())
    event = json.loads(urllib.request.urlopen(request, timeout=60).read())["event_id"]
    answer = urllib.request.urlopen(f"{server['url']}gradio_api/call/upscale/{event}", timeout=60).read().decode()
    assert "event: error" in answer
    _assert_no_server_path(answer, server)
    assert "private" not in answer


# -- clean-up after a server that could not clean up (item 19) -------------------------------------

def test_only_abandoned_srapp_work_folders_are_removed(tmp_path):
    abandoned, running = tmp_path / "srapp-web-dead1234", tmp_path / "srapp-web-live5678"
    unmarked, other = tmp_path / "srapp-web-notours", tmp_path / "someone-else"
    for folder in (abandoned, running, unmarked, other):
        (folder / "results").mkdir(parents=True)
    work_folders.claim(abandoned).close()  # its server ended: the lock is free
    holding = work_folders.claim(running)
    work_folders.claim(other).close()  # srapp's lock file, but not a name srapp gives
    (tmp_path / "srapp-web-link").symlink_to(abandoned, target_is_directory=True)
    (tmp_path / "srapp-web-file").write_text("a file, not a folder")
    try:
        assert work_folders.remove_abandoned(tmp_path) == [abandoned]
    finally:
        holding.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "someone-else", "srapp-web-file", "srapp-web-link", "srapp-web-live5678", "srapp-web-notours"]


_SERVE = ("import sys, time; from srapp.web.service import WebService; service = WebService(); "
          "print(service.work_root, flush=True); time.sleep(120)")


def test_the_next_start_removes_a_killed_servers_work_folder_and_keeps_a_running_ones(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    servers = [subprocess.Popen([sys.executable, "-c", _SERVE], env=env, stdout=subprocess.PIPE, text=True)
               for _ in range(2)]
    try:
        killed, running = (Path(server.stdout.readline().strip()) for server in servers)
        (killed / "results" / "upload.png").write_bytes(b"left behind")
        servers[0].send_signal(signal.SIGKILL)  # no handler runs: the folder stays
        servers[0].wait(30)
        assert killed.is_dir()
        subprocess.run([sys.executable, "-c", "from srapp.web.service import WebService; WebService().close()"],
                       env=env, check=True, timeout=300)
        assert not killed.exists() and running.is_dir()
    finally:
        for server in servers:
            server.kill()
            server.wait(30)


# -- every stage shows while it runs (item 21) -------------------------------------------------------

@pytest.mark.parametrize("model", ["bicubic", "tiny-x2"])
def test_the_upscaling_stage_shows_while_an_image_runs_in_one_piece(service, tmp_path, monkeypatch, model):
    from srapp.engine import upscale as upscale_module

    seen, during = [], []
    name = "imresize" if model == "bicubic" else "tiled_forward"
    work = getattr(upscale_module, name)

    def running(*args, **kwargs):
        during.append(seen[-1])  # what the page shows while the image is being upscaled
        return work(*args, **kwargs)

    monkeypatch.setattr(upscale_module, name, running)
    photo = write_image(tmp_path / "photo.png", smooth_image(24, 32))
    service.upscale_to_png(photo, RunRequest(model, srapp.UpscaleSettings(scale=2 if model == "bicubic" else None, tile=0)),
                           lambda stage, done, total: seen.append((stage.name, done, total)))
    assert during and during[0] == ("upscaling", 0, None)


# -- /upscale parses scale as the command line does (item 21) ----------------------------------------

@pytest.fixture(scope="module")
def tiny_server(tmp_path_factory, tiny_checkpoint):
    service = WebService(Limits(max_pixels=400_000), work_root=tmp_path_factory.mktemp("tiny") / "work",
                         extra_models={"tiny-x2": tiny_checkpoint})
    with served(service, max_file_size="2mb") as url:
        yield Client(url, verbose=False)


def test_upscale_takes_the_scale_as_text_or_number_and_refuses_what_the_cli_refuses(tiny_server, tmp_path):
    from srapp.cli import main

    image = smooth_image(12, 16)
    photo = write_image(tmp_path / "photo.png", image)
    for scale in ("3", 3, 3.0):
        result = tiny_server.predict(handle_file(str(photo)), "bicubic", scale, api_name="/upscale")
        np.testing.assert_array_equal(srapp.io.image_io.read_image(result), srapp.upscale(image, "bicubic", scale=3))
    for scale in (None, "", "2", 2):  # a network's own scale, or none given
        tiny_server.predict(handle_file(str(photo)), "tiny-x2", scale, api_name="/upscale")
    for model, scale, message in (("bicubic", 2.5, "scale must be a whole number, got '2.5'"),
                                  ("bicubic", "2.5", "scale must be a whole number, got '2.5'"),
                                  ("tiny-x2", 4, "upscales x2, not x4")):
        with pytest.raises(Exception, match=message):
            tiny_server.predict(handle_file(str(photo)), model, scale, api_name="/upscale")

def test_the_command_line_parses_scale_with_the_same_parser(tmp_path, capsys):
    from srapp.cli import main

    photo = write_image(tmp_path / "photo.png", smooth_image(12, 16))
    with pytest.raises(SystemExit) as refused:
        main(["upscale", str(photo), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2.5"])
    assert refused.value.code == 2 and "scale must be a whole number, got '2.5'" in capsys.readouterr().err


# -- a busy port (item 21) ---------------------------------------------------------------------------

def test_a_busy_port_is_one_line_not_a_traceback():
    import socket

    from local_services import free_port

    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        completed = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[1] / "app.py"), "--port",
                                    str(port)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert lines == [f"app.py: error: cannot listen on 127.0.0.1 port {port}: Address already in use "
                     "(choose another with --port or SRAPP_PORT)"], completed.stderr


# -- errors stay in the page (item 21) ------------------------------------------------------------

@pytest.fixture(scope="module")
def page_server(tmp_path_factory, tiny_checkpoint):
    service = WebService(Limits(max_pixels=400_000), work_root=tmp_path_factory.mktemp("page") / "work",
                         extra_models={"tiny-x2": tiny_checkpoint})
    with served(service, max_file_size="2mb") as url:
        yield url


@needs_chromium
def test_an_error_stays_in_the_page_status(page_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    photo = write_image(tmp_path / "photo_1.png", smooth_image(24, 32))
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(page_server)
        page.locator("#input-image input[type=file]").set_input_files(str(photo))
        tile = page.get_by_label("Tile (input pixels)").first
        tile.fill("2.5")
        tile.press("Enter")
        page.locator("#upscale-button").click()
        status = page.locator("#status")
        expect(status).to_contain_text("Error: tile must be a whole number, got '2.5'", timeout=30_000)
        page.wait_for_timeout(11_000)  # the toast is gone after 10 s; the status keeps the message
        expect(status).to_contain_text("tile must be a whole number", timeout=1_000)
        expect(page.locator("#comparison").get_by_text("Error", exact=True)).to_have_count(0)
        browser.close()
