#!/usr/bin/env bash
# SmolLM2-135M-Instruct through the whole DAG on one CUDA GPU at bf16 (the `make real` experiment, sized
# for a GPU), then the train stage's tokens/s and model FLOPs utilisation. Meant for a GPU machine lent
# for a few minutes; about 5-8 minutes on an H100/H200 (most of it ingest, qa and eval, which run on CPU
# or are generation-bound).
#
#   bash bench/gpu_check.sh                                   # with the environment `make setup` made
#   TORCH_INDEX=https://download.pytorch.org/whl/cu128 bash bench/gpu_check.sh   # first: a CUDA torch
#
# MFU counts 6 x parameters FLOPs per trained token (forward + backward, attention left out, so it
# reads low for long sequences) against the card's dense bf16 peak (PEAK_TFLOPS overrides the table).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -n "${TORCH_INDEX:-}" ]; then make setup TORCH_INDEX="$TORCH_INDEX"; else make setup; fi
.venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU visible to torch: install a CUDA build (TORCH_INDEX=...)")'
make models/gguf/SmolLM2-135M-Instruct.Q4_1.gguf
start=$(date +%s)
.venv/bin/python -m cptpipe.profile profiles/smollm2.yaml --name smollm2-gpu \
  --set train.precision=bf16 --set train.batch_size=16 --set eval.limit=null --set eval.batch_size=64
echo "whole DAG: $(( $(date +%s) - start )) s"
.venv/bin/python - <<'PY'
import json, os, torch
timing = json.load(open("logs/timings/train.json"))
params = json.load(open("models/start/START.json"))["params"]
name = torch.cuda.get_device_name(0)
peaks = {"H200": 989, "H100": 989, "A100": 312, "L40S": 362, "A10": 125, "L4": 121}  # dense bf16 TFLOP/s
peak = float(os.environ.get("PEAK_TFLOPS") or next((v for k, v in peaks.items() if k in name), "nan"))
tps = timing["tokens_per_second"]
print(f"{name}: train {tps:,.0f} tokens/s over {timing['seconds']:.0f} s; {params / 1e6:.1f}M params; "
      f"MFU {6 * params * tps / (peak * 1e12):.1%} of {peak:g} TFLOP/s bf16")
PY
.venv/bin/dvc exp show --md --only-changed -n 1 2>/dev/null | head -20 || true
