"""``SrappSRModel``: BasicSR's SRModel with mixed precision and channels-last memory layout.

Three top-level option keys switch the speed-ups on (all off by default, which is exactly SRModel)::

    model_type: SrappSRModel
    precision: bf16        # auto | fp32 | bf16 | fp16: autocast for the forward passes (srapp.engine.precision)
    channels_last: true    # NHWC activations and weights: faster convolutions on tensor cores
    compile: true          # torch.compile the training forward pass (falls back to eager if compiling fails)

Only the network's forward pass runs under autocast; the output is cast back to float32 before the
losses, so losses, gradients of the loss, the optimizer and the EMA copy stay float32. ``fp16``
uses a gradient scaler against underflow (bf16 has float32's range and needs none); the scaler is
not part of BasicSR's training state, so after a resume its scale restarts from the default and
settles again within a few iterations. ``bf16`` on a device without bfloat16 kernels (a CPU
without AVX-512, a CUDA GPU before Ampere) runs in fp32 instead, with a warning in the log:
there it would be several times slower than fp32.

``compile`` compiles a wrapper around ``net_g`` for the training step only: ``net_g`` itself, its
parameter names (what BasicSR saves and the EMA copies), validation and testing stay eager. When
compilation or the compiled step fails, the step is redone eagerly and the run continues eagerly,
with the reason in the log.

It also loads srapp's own checkpoints (``weights/*.pth``, int8-stored weights included) wherever
BasicSR loads a network: ``pretrain_network_g`` for fine-tuning and the test pipeline; builds the
wall-clock scheduler ``CosineAnnealingTimeLR`` (:mod:`srapp.training.time_budget`), which BasicSR
1.4.2 does not know; and writes the scored curve of a training run (:mod:`srapp.training.curve`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, ContextManager

import torch
from torch import nn

from .. import _compat  # noqa: F401  (before basicsr)
from basicsr.models.sr_model import SRModel  # noqa: E402
from basicsr.utils import get_root_logger  # noqa: E402

from ..checkpoints import is_srapp_checkpoint, srapp_params  # noqa: E402
from ..engine.devices import machine_description  # noqa: E402
from ..engine.backends.torch import TorchBackend  # noqa: E402
from ..engine.precision import autocast, check_precision, resolve_precision  # noqa: E402
from .curve import CURVE_FILE, CurvePoint, open_curve, rounded_metrics  # noqa: E402
from .time_budget import SCHEDULER_NAME, CosineAnnealingTimeLR  # noqa: E402


class SrappSRModel(SRModel):
    """SRModel whose forward passes can run in bf16 / fp16 and channels-last."""

    def __init__(self, opt: dict[str, Any]) -> None:
        # Read before SRModel.__init__, which builds the network through model_to_device.
        requested = check_precision(opt.get("precision", "fp32"))
        self.channels_last = bool(opt.get("channels_last", False))
        super().__init__(opt)
        self.compiled_net_g = torch.compile(self.net_g) if opt.get("compile", False) and self.is_train else None
        # Option files travel between machines: srapp's one precision policy decides what runs here.
        resolved = resolve_precision(requested, self.device, TorchBackend.precision_support(self.device))
        if resolved.warning:
            get_root_logger().warning(resolved.warning)
        self.precision = resolved.precision
        self.grad_scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.iterations, self._started = 0, time.monotonic()
        # the scored curve of a training run, written by its first process (rank 0)
        folder = opt["path"].get("experiments_root") if self.is_train and opt.get("rank", 0) == 0 else None
        self.curve = None if folder is None else open_curve(Path(folder), opt["name"], machine_description(self.device))

    def setup_schedulers(self) -> None:
        scheduler = self.opt["train"]["scheduler"]
        if scheduler.get("type") != SCHEDULER_NAME:
            super().setup_schedulers()
            return
        arguments = {key: value for key, value in scheduler.items() if key != "type"}
        self.schedulers = [CosineAnnealingTimeLR(optimizer, **arguments) for optimizer in self.optimizers]

    def time_is_up(self) -> bool:
        """True once a wall-clock schedule's cycle is over: srapp's session then ends BasicSR's loop."""
        return any(isinstance(s, CosineAnnealingTimeLR) and s.spent for s in self.schedulers)

    def training_seconds(self) -> float:
        """The time budget's clock when the run has one, else seconds since this run built the model."""
        clocks = [s.elapsed() for s in self.schedulers if isinstance(s, CosineAnnealingTimeLR)]
        return clocks[0] if clocks else time.monotonic() - self._started

    def resume_training(self, resume_state: dict[str, Any]) -> None:
        super().resume_training(resume_state)
        self.iterations = int(resume_state["iter"])
        if self.curve is not None:
            self.curve.until(self.iterations)

    def _autocast(self) -> ContextManager[Any]:
        return autocast(self.precision, self.device.type)

    def model_to_device(self, net: nn.Module) -> nn.Module:
        if self.channels_last:  # before any DDP wrapping, which must see the final parameters
            net = net.to(memory_format=torch.channels_last)
        return super().model_to_device(net)

    def feed_data(self, data: dict[str, Any]) -> None:
        super().feed_data(data)
        if self.channels_last:
            self.lq = self.lq.contiguous(memory_format=torch.channels_last)

    def _losses(self) -> tuple[torch.Tensor, OrderedDict[str, torch.Tensor]]:
        """SRModel's pixel and perceptual losses of ``self.output`` against ``self.gt``."""
        total: torch.Tensor | float = 0.0
        losses: OrderedDict[str, torch.Tensor] = OrderedDict()
        if self.cri_pix:
            losses["l_pix"] = self.cri_pix(self.output, self.gt)
            total = total + losses["l_pix"]
        if self.cri_perceptual:
            perceptual, style = self.cri_perceptual(self.output, self.gt)
            for name, value in (("l_percep", perceptual), ("l_style", style)):
                if value is not None:
                    losses[name] = value
                    total = total + value
        return total, losses

    def _training_forward(self) -> torch.Tensor:
        """net_g on the batch, compiled where ``compile: true`` asked and compiling works."""
        if self.compiled_net_g is not None:
            try:
                with self._autocast():
                    return self.compiled_net_g(self.lq)
            except Exception as error:  # noqa: BLE001 (inductor and dynamo raise many types)
                get_root_logger().warning(
                    f"compile: torch.compile failed ({type(error).__name__}: {str(error)[:300]}); training eagerly")
                self.compiled_net_g = None
                self.optimizer_g.zero_grad()
        with self._autocast():
            return self.net_g(self.lq)

    def optimize_parameters(self, current_iter: int) -> None:
        self.optimizer_g.zero_grad()
        self.output = self._training_forward().float()
        total, losses = self._losses()
        self.grad_scaler.scale(total).backward()
        self.grad_scaler.step(self.optimizer_g)
        self.grad_scaler.update()
        self.log_dict = self.reduce_loss_dict(losses)
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)
        self.iterations = current_iter

    def _log_validation_metric_values(self, current_iter: int, dataset_name: str, tb_logger: Any) -> None:
        super()._log_validation_metric_values(current_iter, dataset_name, tb_logger)
        if self.curve is not None:
            self.curve.add(CurvePoint(self.iterations, round(self.training_seconds(), 2),
                                                self.get_current_learning_rate()[0], dataset_name,
                                                rounded_metrics(self.metric_results)))
            self._write_curve()

    def save(self, epoch: int, current_iter: int) -> None:
        super().save(epoch, current_iter)
        self._write_curve()

    def _write_curve(self) -> None:
        if self.curve is not None:
            self.curve.iterations, self.curve.seconds = self.iterations, round(self.training_seconds(), 2)
            self.curve.write(Path(self.opt["path"]["experiments_root"]) / CURVE_FILE)

    def load_network(self, net: nn.Module, load_path: str, strict: bool = True, param_key: str | None = "params") -> None:
        checkpoint = torch.load(load_path, map_location="cpu", weights_only=True)
        if not is_srapp_checkpoint(checkpoint):
            super().load_network(net, load_path, strict, param_key)
            return
        get_root_logger().info(f"Loading {type(self.get_bare_model(net)).__name__} model from {load_path} (srapp format)")
        self.get_bare_model(net).load_state_dict(srapp_params(checkpoint, load_path), strict=strict)

    def test(self) -> None:
        with self._autocast():
            super().test()
        self.output = self.output.float()
