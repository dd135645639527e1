#!/usr/bin/env bash
# GRPO ablation arms from the SFT arm of benchmarks/synth_repro.sh (same data, same SFT checkpoint, same
# GRPO budget, same held-out scenes):  bash benchmarks/synth_repro_ablations.sh outputs/repro
set -euo pipefail
OUT_DIR=${1:-outputs/repro}
# GRPO_BATCH (default GRPO_GENS): rollouts per step = prompts per step x GRPO_GENS
GRPO_STEPS=${GRPO_STEPS:-30}; GRPO_GENS=${GRPO_GENS:-8}; ROLLOUT=${ROLLOUT:-hf_fast}; PY=${PY:-python}
EVAL_BATCH=${EVAL_BATCH:-125}; EXTRA=${EXTRA:-}; SEED=${SEED:-42}
ckpt=$($PY -c "import json; print(json.load(open('$OUT_DIR/sft_arm/sft/summary.json'))['checkpoint'])")
train="$OUT_DIR/sft_arm/generate/train/samples.jsonl"
declare -A ARMS=(
  [no_depth_reward]="reward.weights.depth_consistency=0"
  [no_depth_image]="stage.image_inputs=rgb"
  [no_progress]="reward=no_progress"
  [curriculum_linear]="curriculum=linear"
)
for arm in ${ARM_NAMES:-no_depth_reward no_depth_image no_progress curriculum_linear}; do
  t0=$(date +%s)
  $PY launch.py "paths.output_root=$OUT_DIR" "seed=$SEED" run_name="grpo_$arm" stage=grpo "stage.init_from=$ckpt" \
    "dataset.path=$train" "stage.max_steps=$GRPO_STEPS" "stage.num_generations=$GRPO_GENS" \
    "stage.per_device_train_batch_size=${GRPO_BATCH:-$GRPO_GENS}" "rollout=$ROLLOUT" stage.save_steps=20 stage.learning_rate=1e-5 \
    ${ARMS[$arm]} $EXTRA
  gckpt=$($PY -c "import json; print(json.load(open('$OUT_DIR/grpo_$arm/summary.json'))['checkpoint'])")
  eval_extra=""; [ "$arm" = no_depth_image ] && eval_extra="backend.image_inputs=rgb"
  $PY launch.py "paths.output_root=$OUT_DIR" "seed=$SEED" run_name="grpo_${arm}_eval" stage=eval "stage.checkpoint=$gckpt" \
    "dataset.path=$train" "backend.batch_size=$EVAL_BATCH" $eval_extra $EXTRA
  echo "arm $arm wall: $(( $(date +%s) - t0 )) s" | tee -a "$OUT_DIR/wall_ablations.txt"
done
