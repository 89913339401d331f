"""The web app: a Gradio page and HTTP API over :class:`srapp.web.service.WebService`."""

from .service import Limits, RunRequest, WebService
from .ui import build_app, launch

__all__ = ["Limits", "RunRequest", "WebService", "build_app", "launch"]
