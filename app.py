"""Start the srapp web app: ``python app.py [--host H] [--port P]`` (or ``make app``).

Environment variables SRAPP_HOST, SRAPP_PORT, SRAPP_MAX_PIXELS, SRAPP_MAX_OUTPUT_PIXELS, SRAPP_MAX_UPLOAD and
SRAPP_MODELS set the same options; the command line wins. Ctrl-C, SIGTERM and SIGHUP all stop the server and remove
its work folder; a start also removes the work folders that servers which were killed left behind.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from srapp.cli.arguments import add_models_dir_option, byte_size, positive_int
from srapp.errors import SrappError
from srapp.web import Limits, WebService, launch


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="srapp web app (Gradio)")
    parser.add_argument("--host", default=os.environ.get("SRAPP_HOST", "127.0.0.1"),
                        help="address to listen on (default: %(default)s; 0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SRAPP_PORT", 7860)),
                        help="port (default: %(default)s)")
    # A string default goes through positive_int too, so SRAPP_MAX_PIXELS=0 is refused like --max-pixels 0.
    parser.add_argument("--max-pixels", type=positive_int,
                        default=os.environ.get("SRAPP_MAX_PIXELS", str(Limits.max_pixels)),
                        help="largest input image in pixels (default: %(default)s)")
    parser.add_argument("--max-output-pixels", type=positive_int,
                        default=os.environ.get("SRAPP_MAX_OUTPUT_PIXELS", str(Limits.max_output_pixels)),
                        help="largest result in pixels: larger requests are refused before any work "
                        "(default: %(default)s)")
    parser.add_argument("--max-upload", type=byte_size,
                        default=os.environ.get("SRAPP_MAX_UPLOAD", f"{Limits.max_image_bytes >> 20}mb"),
                        help="largest image upload, e.g. 50mb (default: %(default)s); a model file may be up to "
                        f"{Limits.max_model_bytes >> 20} MiB, what `srapp models --add` accepts")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT",
                        help="also serve this checkpoint under NAME (repeatable)")
    add_models_dir_option(parser)
    args = parser.parse_args(argv)
    extra = {}
    for item in args.model:
        name, sep, path = item.partition("=")
        if not sep or not name or not Path(path).is_file():
            parser.error(f"--model {item!r}: expected NAME=CHECKPOINT with an existing checkpoint file")
        extra[name] = Path(path)
    try:  # launch checks the port first: a busy one is one line here, not Gradio's traceback
        service = WebService(Limits(max_pixels=args.max_pixels, max_output_pixels=args.max_output_pixels,
                                    max_image_bytes=args.max_upload),
                             extra_models=extra, models_folder=args.models_dir)
        launch(args.host, args.port, service=service)
    except SrappError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")  # one line, like the option errors


if __name__ == "__main__":
    main()
