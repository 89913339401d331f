#!/usr/bin/env bash
# The prepared run for a lent GPU machine: one call of at most 600 s.
#   1. rcan_x4_paper, alone until 250 s: RCAN at the paper's size from scratch, to measure what that
#      configuration does per second on the GPU (its 15.7 MiB int8 file comes back, but would not ship);
#   2. the four shipped networks at once until 570 s (rcan_x4, san_x4, rcan_x3, rcan_x2 _shipped), each
#      warm-started from its file in weights/: the sprints that can replace a shipped file. They are
#      small (3.3-3.5M parameters), so they share the GPU, one process each.
# Each sprint ends its cosine cycle early when loading and compiling took longer than planned
# (--finish-within), so the call ends inside its limit. A call returns at most 8 files: the weights
# come back as OUT/<recipe>.pth, the reports, logs and machine.txt in OUT/reports.tar.
#
# Before the call, here: srapp pack-images $SRAPP_DATA/datasets/T91 $SRAPP_DATA/datasets/BSD200 \
#   $SRAPP_DATA/datasets/Set5 -o datasets/sprint_pack && python -m srapp.sprint travel --carry datasets/sprint_pack
# The call: run(command="bash srapp/sprint/lent_gpu.sh", carry=["datasets/sprint_pack"], timeout_s=600)
# Afterwards: copy the returned files to a writable folder, tar -xf reports.tar there, then
#   python -m srapp.training promote FOLDER/rcan_x4_shipped.json --weights weights/rcan-x4.pth  (and so on)
# Without a GPU each sprint stops at once (--device cuda). A dry run on a CPU (later arguments win):
#   OUT=/tmp/sprint PYTHON=.venv/bin/python \
#   SPRINT_ARGS="--device cpu --batch 2 --seconds 20" bash srapp/sprint/lent_gpu.sh
set -u -o pipefail
out=${OUT:?set OUT to the folder that receives the weights and reports}
python=${PYTHON:-python3}
pack=${PACK:-datasets/sprint_pack}
limit=${LIMIT_SECONDS:-570}  # the call's 600 s, less the transfers back
alone_until=${ALONE_UNTIL_SECONDS:-250}
shared=(rcan_x4_shipped san_x4_shipped rcan_x3_shipped rcan_x2_shipped)
work=$(mktemp -d)
export PYTHONUNBUFFERED=1
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc; "$python" -c 'import torch; print(torch.__version__)'; } \
  > "$work/machine.txt" 2>&1

bundle() {
  cp -f "$work"/*.pth "$out"/ 2>/dev/null
  tar -cf "$out/reports.tar" -C "$work" --exclude='*.pth' --exclude='*.part' .
}
trap bundle EXIT

sprint() {  # RECIPE END: train RECIPE, ending within END seconds of the call's start
  # shellcheck disable=SC2086  # SPRINT_ARGS holds several arguments
  "$python" -m srapp.sprint run "options/sprint/$1.yml" --pack "$pack" --out "$work" \
    --finish-within $(( $2 - SECONDS )) --device cuda ${SPRINT_ARGS:-} > "$work/$1.log" 2>&1
}

status=0
sprint rcan_x4_paper "$alone_until" || status=1
tail -n 2 "$work/rcan_x4_paper.log"
bundle
threads=$(( $(nproc) / ${#shared[@]} ))
pids=()
for recipe in "${shared[@]}"; do
  OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 )) sprint "$recipe" "$limit" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for recipe in "${shared[@]}"; do tail -n 1 "$work/$recipe.log"; done
exit $status
