"""The web app: a Gradio page and HTTP API over :class:`srapp.web.service.WebService`."""

from .service import Limits, Settings, UserError, WebService
from .ui import build_app, launch

__all__ = ["Limits", "Settings", "UserError", "WebService", "build_app", "launch"]
