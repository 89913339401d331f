"""The Gradio page and its named API endpoints, wired to :class:`WebService`.

Results are handed to Gradio as PNG files written by srapp (``gr.File`` for downloads and the API),
never as arrays for Gradio to encode (its default is lossy WebP). Every request runs on a worker
thread with a cancel event; Gradio cancelling the request (the page's Cancel button, an API
client's cancel) sets it, so the work stops before its next tile instead of running on unseen.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import gradio as gr

from ..checkpoints.weights import MODEL_SUFFIXES
from ..engine.model_catalog import BICUBIC
from ..engine.settings import DEFAULT_SETTINGS, UpscaleSettings, parse_whole_number
from ..errors import Cancelled, SrappError, UsageError
from .examples import write_examples
from .service import (
    DEFAULT_BICUBIC_SCALE, PREVIEW_LONG_SIDE, RunRequest, Stage, StageProgress, WebService,
    available_devices, available_precisions, upload_limit,
)
from .shutdown import clean_up_on_termination

TILE_CHOICES = ["auto", "whole image", "128", "256", "512"]
SCALE_CHOICES = ["2", "3", "4", "8"]
# show_error=False: Gradio then sends clients only the messages srapp made (gr.Error, scrubbed of
# server paths); its own errors outside srapp's code, such as refusing a server path sent as a file
# ("Cannot move /srv/... to the gradio cache dir"), reach the client without their text.
LAUNCH_OPTIONS: dict[str, Any] = {"show_error": False}
DEFAULT_CACHE_SWEEP = (600, 3600)  # every 10 minutes, delete Gradio's cached files older than an hour
CANCELLED_MESSAGE = "Cancelled: the run stopped before its next step; nothing from it was kept."
NOTHING_TO_CANCEL = "Nothing is running."
T = TypeVar("T")
_log = logging.getLogger(__name__)


def _tile_setting(choice: str | int | float | None) -> int | None:
    """UI and API tile values: "auto"/None (whole up to 512x512, else tiles), "whole image"/0, or a size."""
    if choice in (None, "", "auto"):
        return None
    if choice == "whole image":
        return 0
    return parse_whole_number("tile", choice)


def _settings(model, scale, tile, precision, device, self_ensemble) -> RunRequest:
    """One request's settings, parsed as the command line parses them (``parse_whole_number``) and
    checked by UpscaleSettings. ``scale``: None for bicubic is :data:`DEFAULT_BICUBIC_SCALE`, for a
    network its own; a network refuses any other (``model rcan-x4 upscales x4, not x3``), as the
    command line does."""
    scale = parse_whole_number("scale", scale)
    if scale is None and str(model) == BICUBIC:
        scale = DEFAULT_BICUBIC_SCALE
    upscale = UpscaleSettings(
        scale=scale, tile=_tile_setting(tile),
        precision=str(precision or DEFAULT_SETTINGS.precision), device=str(device or DEFAULT_SETTINGS.device),
        self_ensemble=bool(self_ensemble),
    )
    return RunRequest(model=str(model), upscale=upscale)


def _page_scale(model, scale):
    """The page's scale control is for bicubic only (its label says so): a network runs at its own."""
    return scale if str(model) == BICUBIC else None


def _gradio_progress(progress: gr.Progress) -> StageProgress:
    def report(stage: Stage, done: int, total: int) -> None:
        if stage.unit:
            progress((done, total), desc=stage.name, unit=stage.unit)  # Gradio takes None: not known yet
        else:
            progress(done / max(total or 1, 1), desc=stage.name)

    return report


def error_message(error: BaseException, service: WebService) -> str:
    """What the page and API clients are told about ``error``: the one place a web error becomes a
    message. A cancelled run says so; srapp's own errors say what they say; anything else names its
    type. Every message is scrubbed of server paths (:meth:`WebService.scrub`)."""
    if isinstance(error, Cancelled):
        return CANCELLED_MESSAGE
    message = str(error) if isinstance(error, SrappError) else f"{type(error).__name__}: {error}"
    return service.scrub(message)


class _Failures:
    """The last error message of each browser tab's run, kept until the page shows it.

    Gradio shows a raised error as a toast that fades and marks the outputs "Error"; the page
    also writes the message into its status, by a ``.failure`` event that fetches it from here.
    Bounded: API clients never fetch theirs."""

    LIMIT = 256

    def __init__(self) -> None:
        self._messages: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._guard = threading.Lock()

    def put(self, key: tuple[str, str], message: str) -> None:
        with self._guard:
            self._messages[key] = message
            self._messages.move_to_end(key)
            while len(self._messages) > self.LIMIT:
                self._messages.popitem(last=False)

    def pop(self, key: tuple[str, str]) -> str | None:
        with self._guard:
            return self._messages.pop(key, None)


def _markdown_text(text: str) -> str:
    """``text`` shown as it is in Markdown (file names such as ``photo_x2.png`` hold underscores)."""
    return re.sub(r"([\\`*_\[\]<>~|#])", r"\\\1", text)


def _messages(service: WebService, failures: _Failures) -> Callable[..., Callable[[Callable], Callable]]:
    """``_messages(service, failures)(tab)``: a decorator by which every error of an endpoint reaches
    the page (and API clients) as a scrubbed message (:func:`error_message`), not as Gradio's text
    of the exception; with ``tab``, the message is also kept in ``failures`` for the tab's status."""

    def for_tab(tab: str | None = None) -> Callable[[Callable], Callable]:
        def decorate(function: Callable) -> Callable:
            @functools.wraps(function)  # Gradio reads the signature for gr.Progress and gr.Request
            async def wrapped(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await function(*args, **kwargs)
                except Exception as error:
                    if not isinstance(error, SrappError):  # a fault, not the user's: keep it in the log
                        _log.exception("srapp web request failed")
                    message = error_message(error, service)
                    request = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)
                    if tab is not None and request is not None:
                        failures.put((request.session_hash, tab), message)
                    raise gr.Error(message, print_exception=False) from error

            return wrapped

        return decorate

    return for_tab


def _decoded_by_srapp(image: gr.Image) -> gr.Image:
    """``image`` (type "filepath") handing srapp the uploaded file as it arrived.

    Gradio's own check opens the file with Pillow and, for anything that is not an image, shows
    Pillow's message with the server's path; srapp decodes the file itself and names any problem
    after the file the user sent. (The instance's method is replaced rather than the class
    subclassed: Gradio writes a ``.pyi`` stub next to any module that subclasses a component.)
    """
    gradio_preprocess = image.preprocess

    def preprocess(payload):
        if payload is not None and payload.path is not None:
            return payload.path  # already checked by Gradio to be one of its uploads
        return gradio_preprocess(payload)

    image.preprocess = preprocess
    return image


class _Runs:
    """The cancel events of the runs in progress, by browser session and tab, so a Cancel button
    can stop its own runs and say whether it did.

    The page's Cancel button sends two requests at once: Gradio's cancel of the run (``cancels=``)
    and :meth:`cancel`, which reports. When Gradio's arrives first the run is already gone, so a
    run cancelled that way is remembered until :meth:`cancel` reports it or the tab starts another.
    """

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], set[threading.Event]] = {}
        self._unreported: set[tuple[str, str]] = set()
        self._guard = threading.Lock()

    async def run(self, key: tuple[str, str], work: Callable[[threading.Event], T]) -> T:
        """``work(cancel)`` on a worker thread; when Gradio cancels the request, ``cancel`` is set
        and the request ends at once (the thread stops before its next tile)."""
        cancel = threading.Event()
        with self._guard:
            self._events.setdefault(key, set()).add(cancel)
            self._unreported.discard(key)
        try:
            return await anyio.to_thread.run_sync(work, cancel, abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            with self._guard:
                if not cancel.is_set():
                    self._unreported.add(key)
                cancel.set()
            raise
        finally:
            with self._guard:
                self._events[key].discard(cancel)
                if not self._events[key]:
                    del self._events[key]

    def cancel(self, key: tuple[str, str]) -> bool:
        """Stop ``key``'s runs; whether there was one (running, or just cancelled by Gradio)."""
        with self._guard:
            events = self._events.get(key, set())
            for event in events:
                event.set()
            stopped = bool(events) or key in self._unreported
            self._unreported.discard(key)
        return stopped


def build_app(service: WebService | None = None) -> gr.Blocks:
    service = service or WebService()
    # Gradio's upload cache is named by content hash; in the shared default folder, one app
    # shutting down deletes files another app on the machine still serves.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(service.work_root / "gradio-cache"))
    examples = write_examples(service.work_root / "examples")
    models, default_model = service.model_choices(), service.default_model()
    runs = _Runs()
    failure_notes = _Failures()
    _user_errors = _messages(service, failure_notes)

    def show_failure(tab: str, cleared: int) -> Callable[[gr.Request], tuple]:
        """The ``.failure`` event of a tab's run: its message in the status, its outputs emptied
        (instead of each saying "Error"). Nothing changes when there is no message (a run that
        Gradio cancelled: the Cancel button reports that)."""

        def show(request: gr.Request) -> tuple:
            message = failure_notes.pop((request.session_hash, tab))
            if message is None:
                return (gr.update(),) * (1 + cleared)
            return (f"**Error:** {_markdown_text(message)}", *([None] * cleared))

        return show

    def model_control(**options: Any) -> gr.Dropdown:
        """A model choice. Its choices are the models at start, refreshed as each page loads and
        after an upload; it takes any name, because the service checks the name against the models
        it serves at request time (the models folder as it is then), which a list captured here
        would not: an API client may name a model added to the folder since the server started."""
        return gr.Dropdown(models, value=default_model, allow_custom_value=True, **options)

    def settings_controls() -> list[gr.components.Component]:
        with gr.Row():
            model = model_control(label="Model")
            scale = gr.Dropdown(SCALE_CHOICES, value=str(DEFAULT_BICUBIC_SCALE), allow_custom_value=True,
                                label="Scale (bicubic only; networks have their own)")
        with gr.Row():
            tile = gr.Dropdown(TILE_CHOICES, value="auto", allow_custom_value=True, label="Tile (input pixels)")
            precision = gr.Dropdown(available_precisions(), value=DEFAULT_SETTINGS.precision, label="Precision")
            device = gr.Dropdown(available_devices(), value=DEFAULT_SETTINGS.device, label="Device")
        self_ensemble = gr.Checkbox(DEFAULT_SETTINGS.self_ensemble, label="Self-ensemble (x8 flips/rotations, 8x slower)")
        return [model, scale, tile, precision, device, self_ensemble]

    @_user_errors("single")
    async def upscale_single(image, ground_truth, model, scale, tile, precision, device, self_ensemble,
                             request: gr.Request, progress=gr.Progress()):
        settings = _settings(model, _page_scale(model, scale), tile, precision, device, self_ensemble)
        comparison = await runs.run((request.session_hash, "single"), lambda cancel: service.compare(
            image, settings, ground_truth, _gradio_progress(progress), cancel))
        table = comparison.table
        return ((str(comparison.bicubic_preview), str(comparison.result_preview)), str(comparison.result_png),
                gr.Dataframe(value=table, visible=bool(table)), comparison.describe())

    @_user_errors("batch")
    async def upscale_batch(files, model, scale, tile, precision, device, self_ensemble,
                            request: gr.Request, progress=gr.Progress()):
        """Upscale several images: a zip of PNGs, the CSV report, the failed files and their errors, a summary."""
        settings = _settings(model, _page_scale(model, scale), tile, precision, device, self_ensemble)
        outcome = await runs.run((request.session_hash, "batch"), lambda cancel: service.batch(
            files, settings, _gradio_progress(progress), cancel))
        failures = [list(failure) for failure in outcome.failures]
        return str(outcome.archive), str(outcome.report), failures, outcome.describe()

    @_user_errors()
    async def upscale(image, model=default_model, scale=None, tile=None,
                      precision=DEFAULT_SETTINGS.precision, device=DEFAULT_SETTINGS.device,
                      self_ensemble=DEFAULT_SETTINGS.self_ensemble, request: gr.Request = None,
                      progress=gr.Progress()):
        """Upscale an image; returns the result as a lossless PNG. ``scale``: bicubic's factor
        (default 4); for a network empty or its own, as on the command line."""
        settings = _settings(model, scale, tile, precision, device, self_ensemble)
        return str(await runs.run((request.session_hash, "upscale"), lambda cancel: service.upscale_to_png(
            image, settings, _gradio_progress(progress), cancel)))

    @_user_errors()
    async def evaluate(image, ground_truth, crop_border=0, request: gr.Request = None, progress=gr.Progress()):
        """PSNR and SSIM (Y channel, crop_border pixels dropped) and LPIPS of an image against its ground truth."""
        crop = int(crop_border or 0)
        return await runs.run((request.session_hash, "evaluate"), lambda cancel: service.evaluate(
            image, ground_truth, crop, _gradio_progress(progress), cancel))

    @_user_errors()
    async def add_model(file, keep):
        """Validate an uploaded model file and offer it in the model choices (kept in the models
        folder only when asked)."""
        name = await anyio.to_thread.run_sync(service.add_upload, file, bool(keep))
        choices = service.model_choices()
        label = dict((value, label) for label, value in choices)[name]
        where = "kept in the models folder" if keep else "for as long as this server runs"
        return (gr.update(choices=choices, value=name), gr.update(choices=choices),
                f"Added **{_markdown_text(label)}**, {where}.")

    def current_models() -> tuple:
        """Both model choices as the models folder is now (the page's load event)."""
        choices = service.model_choices()
        return gr.update(choices=choices), gr.update(choices=choices)

    def cancel_button(tab: str) -> Callable[[gr.Request], str]:
        def cancel(request: gr.Request) -> str:
            return CANCELLED_MESSAGE if runs.cancel((request.session_hash, tab)) else NOTHING_TO_CANCEL

        return cancel

    with gr.Blocks(title="srapp", delete_cache=DEFAULT_CACHE_SWEEP) as app:
        gr.Markdown(
            "# srapp\nSuper-resolution with RCAN and SAN, or your own model (srapp's layouts, or any architecture "
            "spandrel knows). The result downloads as a lossless PNG; "
            f"inputs up to {service.limits.max_pixels / 1e6:g} megapixels, results up to "
            f"{service.limits.max_output_pixels / 1e6:g} megapixels. The slider compares previews "
            f"(long side at most {PREVIEW_LONG_SIDE} px) of the result and of bicubic."
        )
        with gr.Tab("Single image"):
            with gr.Row():
                with gr.Column():
                    image = _decoded_by_srapp(gr.Image(label="Input", type="filepath", image_mode=None,
                                                       sources=["upload", "clipboard"], elem_id="input-image"))
                    ground_truth = _decoded_by_srapp(gr.Image(
                        label="Ground truth (optional: adds PSNR / SSIM / LPIPS)", type="filepath", image_mode=None,
                        sources=["upload", "clipboard"]))
                    controls = settings_controls()
                    with gr.Accordion("Use your own model", open=False):
                        model_file = gr.File(label="Model file (ESRGAN, Compact, SPAN, SwinIR, HAT, DAT, OmniSR, "
                                             "RealPLKSR, RCAN, ...)", file_types=list(MODEL_SUFFIXES),
                                             type="filepath", elem_id="model-file")
                        keep_model = gr.Checkbox(False, label="Keep it in my models folder")
                        add_button = gr.Button("Add model", elem_id="add-model-button")
                        model_status = gr.Markdown(elem_id="model-status")
                    with gr.Row():
                        run = gr.Button("Upscale", variant="primary", elem_id="upscale-button")
                        stop = gr.Button("Cancel", variant="stop", elem_id="cancel-button")
                with gr.Column():
                    status = gr.Markdown(elem_id="status")
                    comparison = gr.ImageSlider(label="Bicubic | result (previews)", type="filepath", format="png",
                                                elem_id="comparison")
                    download = gr.File(label="Result (lossless PNG, full size)", elem_id="result-file")
                    metrics = gr.Dataframe(headers=["method", "PSNR (dB)", "SSIM", "LPIPS"], visible=False,
                                           label="Against the ground truth (Y channel, crop = scale)")
            gr.Examples([[str(path)] for path in examples], inputs=[image], label="Examples")
            single_run = run.click(upscale_single, [image, ground_truth, *controls],
                                   [comparison, download, metrics, status],
                                   api_visibility="undocumented", api_name="compare")
            single_run.failure(show_failure("single", 3), None, [status, comparison, download, metrics], queue=False,
                               api_visibility="private")
            stop.click(cancel_button("single"), None, status, cancels=[single_run], queue=False,
                       api_visibility="private")

        with gr.Tab("Batch"):
            files = gr.File(file_count="multiple", type="filepath", label="Images", elem_id="batch-files")
            batch_controls = settings_controls()
            with gr.Row():
                run_batch = gr.Button("Upscale all", variant="primary", elem_id="batch-button")
                stop_batch = gr.Button("Cancel", variant="stop", elem_id="batch-cancel-button")
            batch_status = gr.Markdown(elem_id="batch-status")
            with gr.Row():
                archive = gr.File(label="Results (zip of PNGs)")
                report = gr.File(label="Report (CSV)")
            failures = gr.Dataframe(headers=["file", "error"], label="Failed files", interactive=False,
                                    elem_id="batch-failures")
            batch_run = run_batch.click(upscale_batch, [files, *batch_controls],
                                        [archive, report, failures, batch_status], api_name="batch")
            batch_run.failure(show_failure("batch", 3), None, [batch_status, archive, report, failures], queue=False,
                              api_visibility="private")
            stop_batch.click(cancel_button("batch"), None, batch_status, cancels=[batch_run], queue=False,
                             api_visibility="private")
        add_button.click(add_model, [model_file, keep_model], [controls[0], batch_controls[0], model_status],
                         api_visibility="private")
        app.load(current_models, None, [controls[0], batch_controls[0]], queue=False, api_visibility="private")

        with gr.Row(visible=False):  # API-only endpoints: uploads in, srapp's own PNG out
            api_image, api_truth = gr.File(type="filepath"), gr.File(type="filepath")
            api_settings = [
                # scale as text: Gradio's Number would round 2.5 to 2 and refuse "4"; srapp parses it
                model_control(), gr.Textbox(""),
                gr.Textbox("auto"), gr.Dropdown(available_precisions(), value=DEFAULT_SETTINGS.precision),
                gr.Dropdown(available_devices(), value=DEFAULT_SETTINGS.device), gr.Checkbox(DEFAULT_SETTINGS.self_ensemble),
            ]
            api_crop = gr.Number(0, precision=0)
            api_png, api_scores = gr.File(), gr.JSON()
            api_upscale_button, api_evaluate_button = gr.Button(), gr.Button()
        api_upscale_button.click(upscale, [api_image, *api_settings], api_png, api_name="upscale")
        api_evaluate_button.click(evaluate, [api_image, api_truth, api_crop], api_scores, api_name="evaluate")
    return app


def check_port(host: str, port: int) -> None:
    """Refuse (:class:`UsageError`, one line) an address this server cannot listen on, a port in
    use above all, before anything is built; Gradio would fail later with a traceback."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
            probe.bind(address)
    except OSError as error:
        raise UsageError(f"cannot listen on {host} port {port}: {error.strerror or error} "
                         "(choose another with --port or SRAPP_PORT)") from error


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    service: WebService | None = None,
    **launch_kwargs: Any,
) -> None:
    """Serve the page; requests wait in a queue, and each device runs a bounded number at a time.
    Uploads are capped by :func:`upload_limit` of the service's limits.

    On SIGTERM (what Docker and systemd send) or SIGHUP (its terminal closed) the server is closed
    and the work folder removed, as on Ctrl-C, before the process ends as the signal ends it.
    """
    check_port(host, port)
    service = service or WebService()
    app = build_app(service)
    devices = [d for d in available_devices() if d != "auto"]
    app.queue(default_concurrency_limit=len(devices) * service.limits.per_device_concurrency, max_size=64)

    def clean_up() -> None:
        app.close(verbose=False)
        service.close()

    clean_up_on_termination(clean_up)
    app.launch(server_name=host, server_port=port, max_file_size=upload_limit(service.limits),
               **{**LAUNCH_OPTIONS, **launch_kwargs})


__all__ = ["LAUNCH_OPTIONS", "build_app", "check_port", "error_message", "launch"]
