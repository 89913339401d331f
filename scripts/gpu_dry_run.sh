#!/usr/bin/env bash
# The dry run of scripts/gpu_run.sh on this CPU, in a bare venv that holds only the GPU image's packages
# the run may count on (torch, torchvision, opencv-python-headless, scikit-image, scipy, tensorboard,
# PyYAML, tqdm, safetensors and what they require) and the wheels gpu_run.sh carries (.gpu/wheels: BasicSR 1.4.2,
# addict, future, yapf, platformdirs, lmdb).
#
#   SRAPP_DATA=... bash scripts/gpu_run.sh prepare && bash scripts/gpu_dry_run.sh   (RUNS=photo: the photo runs)
#
# Nothing is downloaded but lmdb's wheel for this machine's Python: the image's packages are linked,
# each with its metadata, from a reference environment that has them (REFERENCE_PYTHON, default
# .venv/bin/python; opencv-python stands for opencv-python-headless and tb-nightly for tensorboard
# where it has those), so the venv can import nothing else (no gradio, openvino, lpips, safetensors).
# It then runs `DRY_RUN=1 bash scripts/gpu_run.sh run` with the venv's Python, unpacks what came back
# and promotes the shipped rcan-x4 run against a copy of weights/rcan-x4.pth (history in a temporary
# file), as one would after the GPU call. Exit status 0: every step ran.
set -eu -o pipefail
cd "$(dirname "$0")/.."
reference=${REFERENCE_PYTHON:-.venv/bin/python}
venv=${VENV:-/tmp/srapp-gpu-venv}
work=$(mktemp -d)
base=$("$reference" -c 'import sys; print(sys._base_executable)')
"$base" -m venv --clear "$venv"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$reference" - > "$work/linked" <<'PYTHON'
import importlib.metadata as md
import re

from packaging.markers import Marker

IMAGE = ["torch", "torchvision", ("opencv-python-headless", "opencv-python"), "scikit-image", "scipy",
         ("tensorboard", "tb-nightly"), "PyYAML", "tqdm",
         "safetensors"]  # on the image too (srapp.checkpoints imports it), though the issue's list omits it


def distribution(names):
    for name in (names,) if isinstance(names, str) else names:
        try:
            return md.distribution(name)
        except md.PackageNotFoundError:
            pass
    raise SystemExit(f"the reference environment lacks {names}")


seen, todo = {}, [distribution(names) for names in IMAGE]
while todo:
    dist = todo.pop()
    key = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
    if key in seen:
        continue
    seen[key] = dist
    for requirement in dist.requires or []:
        name, _, marker = requirement.partition(";")
        if marker and not Marker(marker).evaluate({"extra": ""}):
            continue
        try:
            todo.append(md.distribution(re.split(r"[ <>=!~\[(]", name.strip(), maxsplit=1)[0]))
        except md.PackageNotFoundError:
            pass  # an optional platform package the reference does not have either
for dist in seen.values():
    for top in sorted({file.parts[0] for file in dist.files or [] if file.parts[0] != ".."}):
        print(dist.locate_file(top))
PYTHON
while read -r path; do ln -sfn "$path" "$site/$(basename "$path")"; done < "$work/linked"
echo "linked $(wc -l < "$work/linked") folders and files of the image's packages into $site"
if "$venv/bin/python" -c 'import gradio' 2>/dev/null || "$venv/bin/python" -c 'import openvino' 2>/dev/null; then
  echo "the venv is not bare: it imports gradio or openvino"; exit 1
fi
"$reference" -m pip download -q --no-deps --only-binary=:all: -d "$work/wheels" lmdb  # this Python's build
DRY_RUN=1 OUT="$work/out" PYTHON="$venv/bin/python" EXTRA_WHEELS="$work/wheels" LIMIT_SECONDS=240 \
  ALONE_UNTIL_SECONDS=60 nice -n 19 bash scripts/gpu_run.sh run  # below the machine's other work
ls -l "$work/out"
mkdir -p "$work/back"
for archive in "$work"/out/*.tar; do tar -xf "$archive" -C "$work/back"; done
if [ "${RUNS:-}" = photo ]; then run=train_RCAN_x4_photo_gpu model=rcan-x4-photo; else run=train_RCAN_x4_gpu model=rcan-x4; fi
cp "weights/$model.pth" "$work/$model.pth"
PYTHONPATH=$PWD "$reference" -m srapp.training promote "$work/back/experiments/$run" \
  --weights "$work/$model.pth" --history "$work/history.json"
cat "$work/back/experiments/$run/curve.json"
echo "dry run passed; its files are in $work"
