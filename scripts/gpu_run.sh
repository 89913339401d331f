#!/usr/bin/env bash
# The prepared training run for a lent GPU machine (one call of at most 600 s), through srapp's BasicSR
# pipeline: each option file below trains with `srapp train` against a wall-clock budget
# (CosineAnnealingTimeLR, finish_within), on the pairs held on the GPU (SrappResidentPairedDataset).
#
#   bash scripts/gpu_run.sh prepare   here (SRAPP_DATA set): BasicSR 1.4.2, lmdb and the pure-Python
#                                     packages BasicSR and srapp declare beyond the GPU image (addict,
#                                     future, yapf, platformdirs) as wheels in .gpu/wheels (2 MiB);
#                                     T91 and BSD200 as lossless WebP in .gpu/data/datasets, less what of
#                                     BSD200 does not fit the 64 MiB that travel with the tree; Set5 as it is
#   bash scripts/gpu_run.sh run       there: run(command="bash scripts/gpu_run.sh run", carry=[".gpu"],
#                                     timeout_s=600)
#
# The run: RCAN x4 at the paper's size alone until 250 s, then the four shipped networks at once (one
# process each; they are small) until 570 s. RUNS=photo runs the two photo models instead, side by side
# for the whole call (options/train/*_photo_gpu.yml: their degradations are made by the CPU cores). Each run's options get finish_within so it ends inside
# its slot whatever loading and starting took. What comes back ($OUT, at most 8 files of 16 MiB):
# one NAME.tar per run, holding its experiment folder (option file, log, curve.json) with
# models/net_g_latest.pth reduced to its EMA weights in float16 (none for the paper-size run), and
# machine.txt. Afterwards, here: tar -xf NAME.tar -C . (it unpacks into experiments/NAME), then
#   python -m srapp.training promote experiments/train_RCAN_x4_gpu --weights weights/rcan-x4.pth
# which ships the EMA weights (int8) only if they beat the shipped file on its benchmark.
#
# DRY_RUN=1 runs the same on the CPU for a few seconds per option file (fp32, batch 2, T91 only, the
# paper-size network shrunk to 1 group of 2 blocks, one thread per process): the check
# that the pipeline runs in an environment holding only the GPU image's packages and the carried
# wheels (scripts/gpu_dry_run.sh builds one).
set -u -o pipefail
cd "$(dirname "$0")/.."
here=.gpu
runs_alone=(train_RCAN_x4_paper_gpu)
runs_shared=(train_RCAN_x4_gpu train_SAN_x4_gpu train_RCAN_x3_gpu train_RCAN_x2_gpu)
photo_runs=(train_RCAN_x4_photo_gpu train_SAN_x4_photo_gpu)  # RUNS=photo: these two, sharing the whole call
wheels=(basicsr==1.4.2 addict future yapf platformdirs)  # pure Python
binary_wheels=(lmdb)  # for the GPU image's Python, 3.12 (GPU_PYTHON)

prepare() {
  local python=${PYTHON:-python3} data=${SRAPP_DATA:?set SRAPP_DATA to the data folder (datasets/T91 ...)}
  local limit=$(( 63 * 1048576 )) tree carried  # 64 MiB travel, less a margin
  mkdir -p "$here/wheels" "$here/data/datasets"
  "$python" -m pip wheel -q --no-deps -w "$here/wheels" "${wheels[@]}" || return 1
  "$python" -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$here/wheels" "${binary_wheels[@]}" || return 1
  for set in T91 BSD200; do
    [ -d "$here/data/datasets/$set" ] || "$python" -m srapp.cli pack-images "$data/datasets/$set" -o "$here/data/datasets" \
      || return 1
  done
  # Set5 as it is: a degraded validation set seeds each image by its file name
  # (srapp.degradations.image_seed), so renamed files would not be the benchmark's pairs.
  [ -d "$here/data/datasets/Set5" ] || cp -r "$data/datasets/Set5" "$here/data/datasets/" || return 1
  tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
  # What does not fit leaves BSD200, the last images by name first (an arbitrary, repeatable subset).
  while carried=$(du -sb "$here" | cut -f1); [ $(( tree + carried )) -gt $limit ]; do
    rm "$(ls "$here"/data/datasets/BSD200/*.webp | tail -n 1)" || return 1
  done
  echo "would travel: $(( tree + carried )) bytes (working tree $tree, $here $carried) of $limit;" \
    "BSD200: $(ls "$here"/data/datasets/BSD200 | wc -l) of $(ls "$data"/datasets/BSD200 | wc -l) images"
}

# NAME END: train options/train/NAME.yml, ending within END seconds of the call's start
train() {
  local name=$1 end=$2 derived="$work/$1.yml"
  "$python" - "$name" $(( end - SECONDS )) "$derived" <<'EOF' || return 1
import os, sys, yaml
name, left, derived = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(f"options/train/{name}.yml") as handle:
    opt = yaml.safe_load(handle)
opt["train"]["scheduler"]["finish_within"] = left - 10  # the interpreter's start and imports come first
if os.environ.get("DRY_RUN"):  # light for a shared CPU: T91 only, the paper-size network shrunk
    opt.update(precision="fp32", num_gpu=0)
    train = opt["datasets"]["train"]
    train.update(batch_size_per_gpu=2, pin_memory=False)
    if train["type"] == "SrappResidentPairedDataset":
        train.update(device="cpu", subfolders=["T91"])
    else:  # degradations made in the data loader: one worker
        train.update(num_worker_per_gpu=1, persistent_workers=False)
    if not opt["path"].get("pretrain_network_g"):
        opt["network_g"].update(num_groups=1, num_blocks=2)
    opt["train"]["scheduler"]["seconds"] = 8
    opt["train"]["scheduler"]["finish_within"] = max(left - 10, 40)
    opt["val"]["val_freq"] = opt["logger"]["save_checkpoint_freq"] = 10
with open(derived, "w") as handle:
    yaml.safe_dump(opt, handle, sort_keys=False)
EOF
  "$python" -m srapp.cli train -opt "$derived" --root "$PWD" > "$work/$name.log" 2>&1
}

# NAME: the experiment folder as NAME.tar in $OUT, its weights reduced to the EMA copy in float16
bring_back() {
  local name=$1 keep_weights=$2 experiment="experiments/$1"
  [ -d "$experiment" ] || { echo "$name: no experiment folder"; return 1; }
  cp "$work/$name.log" "$experiment/" 2>/dev/null
  if [ "$keep_weights" = 1 ] && [ -f "$experiment/models/net_g_latest.pth" ]; then
    "$python" - "$experiment/models/net_g_latest.pth" <<'EOF'
import sys, torch
path = sys.argv[1]
saved = torch.load(path, map_location="cpu", weights_only=True)
ema = saved.get("params_ema", saved["params"])
torch.save({"params_ema": {k: v.half() if v.is_floating_point() else v for k, v in ema.items()}}, path)
EOF
  fi
  tar -cf "$OUT/$name.tar" --exclude='training_states' --exclude='models/net_g_[0-9]*.pth' \
    $([ "$keep_weights" = 1 ] || echo --exclude=models) "$experiment"
}

run() {
  OUT=${OUT:?set OUT to the folder that receives the results}
  python=${PYTHON:-python3}
  limit=${LIMIT_SECONDS:-570}  # the call's 600 s, less the transfers back
  alone_until=${ALONE_UNTIL_SECONDS:-250}
  work=$(mktemp -d)
  export PYTHONUNBUFFERED=1 SRAPP_DATA=$PWD/$here/data
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" \
    --find-links "$here/wheels" ${EXTRA_WHEELS:+--find-links "$EXTRA_WHEELS"} "${wheels[@]}" "${binary_wheels[@]}" \
    || exit 1
  export PYTHONPATH=$work/site:$PWD
  mkdir -p "$OUT"
  { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc;
    "$python" -c 'import sys, torch, srapp.training, basicsr; print(sys.version.split()[0], torch.__version__, basicsr.__version__)'; } \
    > "$OUT/machine.txt" 2>&1
  if [ -z "${DRY_RUN:-}" ] && ! "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "no GPU: nothing trained (DRY_RUN=1 runs on the CPU)"; exit 1
  fi
  if [ "${RUNS:-}" = photo ]; then runs_alone=(); runs_shared=("${photo_runs[@]}"); fi
  status=0
  for name in "${runs_alone[@]}"; do
    train "$name" "$alone_until" || status=1
    tail -n 3 "$work/$name.log"
    bring_back "$name" 0 || status=1
  done
  threads=$(( $(nproc) / ${#runs_shared[@]} ))
  pids=()
  for name in "${runs_shared[@]}"; do
    [ -n "${DRY_RUN:-}" ] && threads=1
    OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 )) train "$name" "$limit" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  for name in "${runs_shared[@]}"; do
    tail -n 3 "$work/$name.log"
    bring_back "$name" 1 || status=1
  done
  exit $status
}

case ${1:-} in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash scripts/gpu_run.sh prepare|run" >&2; exit 2 ;;
esac
