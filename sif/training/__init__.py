"""What the sft and grpo stages share on top of the TRL trainers.

* `samples`  - read a samples.jsonl, resolve its paths, check every sample (images, depth, chain grammar,
               token length) and report the bad ones by id (`BadInputError` under strict=true);
* `images`   - the RGB image and the colour depth picture of a sample (PNG beside the .npy, or colourised);
* `lengths`  - exact token counts (text + image tokens) of a prompt-completion example, with the processor;
* `dataset`  - HF `datasets.Dataset`s whose images are loaded lazily (a transform), seeded eval split;
* `args`     - TrainingArguments keyword arguments from a TrainStageConfig + the logger and deepspeed groups;
* `resume`   - which checkpoint to continue from (auto | never | path);
* `callbacks`- metrics.jsonl (one line per log event) and the loss-curve PNG;
* `summary`  - numbers for the run summary from the trainer's log history;
* `ranks`    - rank helpers (main process, barrier).

Heavy imports (torch, transformers, trl, datasets) stay inside functions.
"""
