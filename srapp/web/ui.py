"""The Gradio page and its named API endpoints, wired to :class:`WebService`.

Results are handed to Gradio as PNG files written by srapp (``gr.File`` for downloads and the API),
never as arrays for Gradio to encode (its default is lossy WebP).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import gradio as gr

from .examples import write_examples
from ..engine.settings import DEFAULT_SETTINGS, UpscaleSettings
from ..errors import SrappError
from .service import DEFAULT_BICUBIC_SCALE, Settings, UserError, WebService, available_devices, available_precisions

TILE_CHOICES = ["auto", "whole image", "128", "256", "512"]
SCALE_CHOICES = [2, 3, 4, 8]
DEFAULT_CACHE_SWEEP = (600, 3600)  # every 10 minutes, delete Gradio's cached files older than an hour


def _tile_setting(choice: str | int | float | None) -> int | None:
    """UI and API tile values: "auto"/None (whole up to 512x512, else tiles), "whole image"/0, or a size."""
    if choice in (None, "", "auto"):
        return None
    if choice == "whole image":
        return 0
    try:
        tile = float(choice)
    except (TypeError, ValueError) as error:
        raise UserError(f"tile must be auto, whole image or a number of pixels, got {choice!r}") from error
    return int(tile) if tile.is_integer() else tile  # UpscaleSettings refuses fractions with its message


def _whole_number(name: str, value) -> int | float | None:
    """An API number (Gradio sends floats and strings) as an int where it is whole; UpscaleSettings checks it."""
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise UserError(f"{name} must be a whole number, got {value!r}") from error
    return int(number) if number.is_integer() else number


def _settings(model, scale, tile, precision, device, self_ensemble) -> Settings:
    scale = _whole_number("scale", scale)
    try:
        upscale = UpscaleSettings(
            scale=DEFAULT_BICUBIC_SCALE if scale is None else scale, tile=_tile_setting(tile),
            precision=str(precision or DEFAULT_SETTINGS.precision), device=str(device or DEFAULT_SETTINGS.device),
            self_ensemble=bool(self_ensemble),
        )
    except SrappError as error:
        raise UserError(str(error)) from error
    return Settings(model=str(model), upscale=upscale)


def _gradio_progress(progress: gr.Progress, unit: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress((done, total), desc=unit, unit=unit)

    return report


def _user_errors(function: Callable) -> Callable:
    """Show a :class:`UserError` in the page (and to API clients) as a message, not a crash."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UserError as error:
            raise gr.Error(str(error)) from error

    wrapped.__name__, wrapped.__doc__ = function.__name__, function.__doc__
    return wrapped


def build_app(service: WebService | None = None) -> gr.Blocks:
    service = service or WebService()
    # Gradio's upload cache is named by content hash; in the shared default folder, one app
    # shutting down deletes files another app on the machine still serves.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(service.work_root / "gradio-cache"))
    examples = write_examples(service.work_root / "examples")
    models, default_model = service.model_names(), service.default_model()

    def settings_controls() -> list[gr.components.Component]:
        with gr.Row():
            model = gr.Dropdown(models, value=default_model, label="Model")
            scale = gr.Dropdown(SCALE_CHOICES, value=DEFAULT_BICUBIC_SCALE,
                                label="Scale (bicubic only; networks have their own)")
        with gr.Row():
            tile = gr.Dropdown(TILE_CHOICES, value="auto", label="Tile (input pixels)")
            precision = gr.Dropdown(available_precisions(), value=DEFAULT_SETTINGS.precision, label="Precision")
            device = gr.Dropdown(available_devices(), value=DEFAULT_SETTINGS.device, label="Device")
        self_ensemble = gr.Checkbox(DEFAULT_SETTINGS.self_ensemble, label="Self-ensemble (x8 flips/rotations, 8x slower)")
        return [model, scale, tile, precision, device, self_ensemble]

    @_user_errors
    def upscale_single(image, ground_truth, model, scale, tile, precision, device, self_ensemble,
                       progress=gr.Progress()):
        settings = _settings(model, scale, tile, precision, device, self_ensemble)
        result, bicubic, table = service.compare(image, settings, ground_truth, _gradio_progress(progress, "tiles"))
        return (str(bicubic), str(result)), str(result), gr.Dataframe(value=table, visible=bool(table))

    @_user_errors
    def upscale_batch(files, model, scale, tile, precision, device, self_ensemble, progress=gr.Progress()):
        settings = _settings(model, scale, tile, precision, device, self_ensemble)
        archive, report = service.batch(files, settings, _gradio_progress(progress, "images"))
        return str(archive), str(report)

    @_user_errors
    def upscale(image, model=default_model, scale=DEFAULT_BICUBIC_SCALE, tile=None,
                precision=DEFAULT_SETTINGS.precision, device=DEFAULT_SETTINGS.device,
                self_ensemble=DEFAULT_SETTINGS.self_ensemble, progress=gr.Progress()):
        """Upscale an image; returns the result as a lossless PNG."""
        settings = _settings(model, scale, tile, precision, device, self_ensemble)
        return str(service.upscale_to_png(image, settings, _gradio_progress(progress, "tiles")))

    @_user_errors
    def evaluate(image, ground_truth, crop_border=0):
        """PSNR and SSIM (Y channel, crop_border pixels dropped) and LPIPS of an image against its ground truth."""
        return service.evaluate(image, ground_truth, int(crop_border or 0))

    with gr.Blocks(title="srapp", delete_cache=DEFAULT_CACHE_SWEEP) as app:
        gr.Markdown(
            "# srapp\nSuper-resolution with RCAN and SAN. The result downloads as a lossless PNG; "
            f"inputs up to {service.limits.max_pixels / 1e6:g} megapixels."
        )
        with gr.Tab("Single image"):
            with gr.Row():
                with gr.Column():
                    image = gr.Image(label="Input", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                     elem_id="input-image")
                    ground_truth = gr.Image(label="Ground truth (optional: adds PSNR / SSIM / LPIPS)",
                                            type="filepath", image_mode=None, sources=["upload", "clipboard"])
                    controls = settings_controls()
                    run = gr.Button("Upscale", variant="primary", elem_id="upscale-button")
                with gr.Column():
                    comparison = gr.ImageSlider(label="Bicubic | result", type="filepath", format="png",
                                                elem_id="comparison")
                    download = gr.File(label="Result (lossless PNG)", elem_id="result-file")
                    metrics = gr.Dataframe(headers=["method", "PSNR (dB)", "SSIM", "LPIPS"], visible=False,
                                           label="Against the ground truth (Y channel, crop = scale)")
            gr.Examples([[str(path)] for path in examples], inputs=[image], label="Examples")
            run.click(upscale_single, [image, ground_truth, *controls], [comparison, download, metrics],
                      api_visibility="undocumented", api_name="compare")

        with gr.Tab("Batch"):
            files = gr.File(file_count="multiple", type="filepath", label="Images")
            batch_controls = settings_controls()
            run_batch = gr.Button("Upscale all", variant="primary")
            with gr.Row():
                archive = gr.File(label="Results (zip of PNGs)")
                report = gr.File(label="Report (CSV)")
            run_batch.click(upscale_batch, [files, *batch_controls], [archive, report], api_name="batch")

        with gr.Row(visible=False):  # API-only endpoints: uploads in, srapp's own PNG out
            api_image, api_truth = gr.File(type="filepath"), gr.File(type="filepath")
            api_settings = [
                gr.Dropdown(models, value=default_model), gr.Number(DEFAULT_BICUBIC_SCALE, precision=0),
                gr.Textbox("auto"), gr.Dropdown(available_precisions(), value=DEFAULT_SETTINGS.precision),
                gr.Dropdown(available_devices(), value=DEFAULT_SETTINGS.device), gr.Checkbox(DEFAULT_SETTINGS.self_ensemble),
            ]
            api_crop = gr.Number(0, precision=0)
            api_png, api_scores = gr.File(), gr.JSON()
            api_upscale_button, api_evaluate_button = gr.Button(), gr.Button()
        api_upscale_button.click(upscale, [api_image, *api_settings], api_png, api_name="upscale")
        api_evaluate_button.click(evaluate, [api_image, api_truth, api_crop], api_scores, api_name="evaluate")
    return app


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    service: WebService | None = None,
    max_upload: str = "50mb",
    **launch_kwargs: Any,
) -> None:
    """Serve the page; requests wait in a queue, and each device runs a bounded number at a time."""
    service = service or WebService()
    app = build_app(service)
    devices = [d for d in available_devices() if d != "auto"]
    app.queue(default_concurrency_limit=len(devices) * service.limits.per_device_concurrency, max_size=64)
    app.launch(server_name=host, server_port=port, max_file_size=max_upload, show_error=True, **launch_kwargs)


__all__ = ["build_app", "launch"]
