#!/usr/bin/env bash
# The synthetic reproduction (issue 8): generate -> sft -> eval (the SFT-only arm), then grpo from that SFT
# checkpoint -> eval (the GRPO-SIF arm), all on the same held-out scenes. Sizes come from the environment
# so one script serves the GPU run and a CPU smoke run. STEPS picks the SFT arm's pipeline: by default it
# includes the blind-control arm (the same SFT on blank pictures, issue 14) and a grounding warm-up is one
# more step: STEPS='[generate,probe,sft,blind,eval]'.
#   N_TRAIN=8000 N_EVAL=500 SFT_STEPS=1500 GRPO_STEPS=40 bash benchmarks/synth_repro.sh outputs/repro
# Then: python benchmarks/synth_repro_report.py outputs/repro  (writes the table and curves)
set -euo pipefail
OUT_DIR=${1:-outputs/repro}
N_TRAIN=${N_TRAIN:-8000}; N_EVAL=${N_EVAL:-500}; SEED=${SEED:-42}
SFT_STEPS=${SFT_STEPS:-1500}; SFT_BATCH=${SFT_BATCH:-16}; SFT_LR=${SFT_LR:-1e-3}
GRPO_STEPS=${GRPO_STEPS:-40}; GRPO_GENS=${GRPO_GENS:-8}; ROLLOUT=${ROLLOUT:-hf_fast}
WORKERS=${WORKERS:-8}; EVAL_BATCH=${EVAL_BATCH:-64}; EXTRA=${EXTRA:-}
PY=${PY:-python}
# grpo and eval load the model from the SFT/GRPO checkpoint and the data by path, so only the first
# command takes the experiment (whose pipeline-only keys the grpo/eval schemas would refuse)
common=("dataset.num_samples=$N_TRAIN" "dataset.eval_samples=$N_EVAL" "seed=$SEED"
        "paths.output_root=$OUT_DIR" "backend.batch_size=$EVAL_BATCH")
t0=$(date +%s)
$PY launch.py experiment=synth_repro "${common[@]}" run_name=sft_arm "stage.steps=${STEPS:-[generate,sft,blind,eval]}" "stage.sft_max_steps=$SFT_STEPS" \
  "+stage.generate.num_workers=$WORKERS" "+stage.sft.learning_rate=$SFT_LR" "+stage.sft.per_device_train_batch_size=$SFT_BATCH" \
  +stage.sft.warmup_ratio=0.05 +stage.sft.save_steps=500 +stage.sft.eval_steps=500 \
  "+stage.sft.dataloader_num_workers=${SFT_WORKERS:-0}" $EXTRA
t1=$(date +%s); echo "sft arm wall: $((t1 - t0)) s" | tee "$OUT_DIR/wall_sft_arm.txt"
[ "${SFT_ONLY:-0}" = 1 ] && exit 0  # the GRPO arm later (a re-run finds the SFT arm DONE and goes on from here)
ckpt=$($PY -c "import json,sys; print(json.load(open('$OUT_DIR/sft_arm/sft/summary.json'))['checkpoint'])")
train="$OUT_DIR/sft_arm/generate/train/samples.jsonl"
$PY launch.py "${common[@]}" run_name=grpo_arm stage=grpo "stage.init_from=$ckpt" "dataset.path=$train" \
  "stage.max_steps=$GRPO_STEPS" "stage.num_generations=$GRPO_GENS" "stage.per_device_train_batch_size=${GRPO_BATCH:-$GRPO_GENS}" \
  "rollout=$ROLLOUT" stage.save_steps=20 stage.learning_rate=1e-5 $EXTRA
gckpt=$($PY -c "import json; print(json.load(open('$OUT_DIR/grpo_arm/summary.json'))['checkpoint'])")
$PY launch.py "${common[@]}" run_name=grpo_arm_eval stage=eval "stage.checkpoint=$gckpt" "dataset.path=$train" $EXTRA
t2=$(date +%s); echo "grpo arm wall: $((t2 - t1)) s" | tee "$OUT_DIR/wall_grpo_arm.txt"
