#!/usr/bin/env bash
# The prepared run for a lent GPU machine: one call of at most 600 s, two sprints one after the other.
#   1. rcan_x4_paper: RCAN at the paper's size from scratch, to measure what that configuration does
#      per second and per minute on the GPU (its ~15.7 MiB int8 file comes back, but would not ship);
#   2. rcan_x4_shipped: the shipped rcan-x4 network warm-started from weights/rcan-x4.pth: the one
#      that can replace a shipped file (python -m srapp.training promote OUT/rcan_x4_shipped.json ...).
# Each sprint ends its cosine cycle early when loading and compiling took longer than planned
# (--finish-within), so the call ends inside its limit with both reports and weights in $OUT.
#
# Before the call, here: srapp pack-images $SRAPP_DATA/datasets/T91 $SRAPP_DATA/datasets/BSD200 \
#   $SRAPP_DATA/datasets/Set5 -o datasets/sprint_pack && python -m srapp.sprint travel --carry datasets/sprint_pack
# The call: run(command="bash srapp/sprint/lent_gpu.sh", carry=["datasets/sprint_pack"], timeout_s=600)
# A dry run on a CPU: OUT=/tmp/sprint PYTHON=.venv/bin/python \
#   SPRINT_ARGS="--device cpu --batch 2 --seconds 20" bash srapp/sprint/lent_gpu.sh
set -u -o pipefail
out=${OUT:?set OUT to the folder that receives the weights and reports}
python=${PYTHON:-python3}
pack=${PACK:-datasets/sprint_pack}
limit=${LIMIT_SECONDS:-570}  # the call's 600 s, less the transfers back
export PYTHONUNBUFFERED=1
mkdir -p "$out"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; "$python" -c 'import torch; print(torch.__version__)'; } \
  > "$out/machine.txt" 2>&1
status=0
for plan in rcan_x4_paper:300 rcan_x4_shipped:$limit; do
  recipe=${plan%%:*}
  left=$(( ${plan##*:} - SECONDS ))
  # shellcheck disable=SC2086  # SPRINT_ARGS holds several arguments
  "$python" -m srapp.sprint run "options/sprint/$recipe.yml" --pack "$pack" --out "$out" --finish-within "$left" \
    ${SPRINT_ARGS:-} > "$out/$recipe.log" 2>&1 || status=1
  tail -n 4 "$out/$recipe.log"
done
exit $status
