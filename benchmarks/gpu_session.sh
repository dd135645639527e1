#!/usr/bin/env bash
# One GPU-machine call: install the wheels the image lacks (.gpu-wheels, from ../shared/gpu/prepare-wheels.sh),
# then run the named steps, copying results and logs under $OUT.
#   bash benchmarks/gpu_session.sh gpu-tests rollout_decode      # any of: gpu-tests grpo_split <benchmark name>...
set -uo pipefail
OUT=${OUT:-outputs/gpu}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-build-isolation --find-links .gpu-wheels \
  trl datasets hydra-core omegaconf openai shapely pytest pytest-timeout hypothesis > "$OUT/pip.log" 2>&1 || tail -5 "$OUT/pip.log"
# DeepSpeed (source, built here in seconds; its ops compile just in time) for grpo_step's ZeRO-3 arm only
case " $* " in *" grpo_step "*) python3 -m pip install -q --no-index --no-build-isolation --find-links .gpu-wheels \
  deepspeed >> "$OUT/pip.log" 2>&1 || { echo "deepspeed did not install:"; tail -5 "$OUT/pip.log"; } ;;
esac
export PYTHONPATH=. HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch, transformers, trl; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)" | tee -a "$OUT/gpu.txt"
for step in "$@"; do
  start=$(date +%s)
  if [ "$step" = gpu-tests ]; then
    python3 -m pytest -m gpu -p no:xdist -p no:cacheprovider -q -s tests/fastgen/test_fast_generator_gpu.py > "$OUT/gpu-tests.log" 2>&1
  elif [ "$step" = grpo_split ]; then  # our GRPO step only, with stage.step_split=true: where its time goes
    python3 benchmarks/grpo_step.py --split --skip-plain --no-shared --no-zero3 --steps 4 --workdir /tmp/bench-split \
      --out "$OUT/grpo_step_split.json" > "$OUT/$step.log" 2>&1
  else
    python3 benchmarks/run_all.py --only "$step" --results "$OUT" > "$OUT/$step.log" 2>&1
  fi
  echo "$step rc=$? $(( $(date +%s) - start ))s" | tee -a "$OUT/steps.txt"
  tail -4 "$OUT/${step}.log" 2>/dev/null || tail -4 "$OUT/gpu-tests.log"
done
