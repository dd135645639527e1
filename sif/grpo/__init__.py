"""GRPO-specific pieces of the grpo stage (sif.stages.grpo); shared training code lives in sif.training.

* `data`      - samples -> GRPO rows (THE prompt with RGB + depth images, every reward column), curriculum order;
* `args`      - GRPOConfig keyword arguments (TRL defaults pinned to ours), batch-size validation;
* `rollout`   - rollout backends (`rollout=` group): hf, hf_fast (sif.fastgen), vllm_colocate, vllm_server;
* `model`     - init_from resolution (adapters merged once) and the LoRA peft_config;
* `trainer`   - GRPOTrainer subclass saving curriculum + progress memory in checkpoints; suite metrics;
* `snapshots` - completion snapshots (text + pictures with the predicted areas and depths);
* `summary`   - summary numbers from the log history.

Heavy imports (torch, transformers, trl, datasets) stay inside functions, except in `trainer`.
"""
