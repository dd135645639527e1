"""`FastGenerator`: rollout generation with a static KV cache, CUDA graphs and torch.compile (`rollout=hf_fast`).

    gen = FastGenerator(model, processor, rollout_cfg)
    sequences = gen.generate(input_ids=..., attention_mask=..., pixel_values=..., image_grid_thw=...,
                             generation_config=gc)            # like model.generate: [B, prompt + new] token ids

How a call runs (Qwen2 / Qwen2-VL / Qwen2.5-VL text stacks; see `decoder.py`):

1. prefill: ONE ordinary forward of the (possibly LoRA-wrapped) model over the left-padded prompts - vision tower,
   M-RoPE positions and all - returning the last logits and the prompt's keys/values;
2. the keys/values are copied into a static cache of (batch bucket, length bucket) shape, the first token is
   chosen from the prefill logits;
3. each further token is ONE replay of a CUDA graph (captured at the first call of that bucket, after a
   compiled warm-up) that embeds the tokens, runs every layer from the generation weight copies (LoRA merged),
   writes the cache, applies the logits processors and picks the next token - all on static buffers;
4. every `check_every` steps the host reads one flag and stops as soon as every row has finished.

Shapes are bucketed (batch to a power of two, cache length to `rollout.length_buckets`), so a run compiles and
captures once per bucket it meets - never again for the same bucket. Tokens after a row's EOS are the pad id
and the output is cut where `generate` would stop, so greedy outputs equal `model.generate`'s token for token
(tests/fastgen on CPU, where the same static-cache loop runs eagerly without graphs or compile).

Anything the fast path does not implement (other architectures, beam search, ...) goes to transformers'
own `generate` with `cache_implementation="static"` (compiled by transformers on a GPU), said once in the log.
"""

from __future__ import annotations

import copy
import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from sif.fastgen.decoder import DecodeWeights, find_text_stack, layer_step, rms_norm, rope_cos_sin, unwrap
from sif.fastgen.shared import SharedWeights, layer_step_shared, lin
from sif.fastgen.sampling import (SamplingParams, UnsupportedGeneration, choose_tokens, process_scores,
                                  tensor_ids)

log = logging.getLogger("sif.fastgen")

DEFAULT_LENGTH_BUCKETS = (256, 512, 1024, 2048)
_GEN_KEYS = None


def _generation_keys() -> set[str]:
    global _GEN_KEYS
    if _GEN_KEYS is None:
        from transformers import GenerationConfig

        _GEN_KEYS = set(GenerationConfig().to_dict()) | {"max_new_tokens", "min_new_tokens", "eos_token_id",
                                                         "pad_token_id", "suppress_tokens"}
    return _GEN_KEYS


def bucket_length(n: int, buckets: Sequence[int]) -> int:
    """The smallest bucket >= n; beyond the largest, the next multiple of the largest."""
    buckets = sorted(int(b) for b in buckets) or list(DEFAULT_LENGTH_BUCKETS)
    for b in buckets:
        if n <= b:
            return b
    top = buckets[-1]
    return -(-n // top) * top


def bucket_batch(n: int) -> int:
    """Batch rows rounded up to a power of two (1, 2, 4, 8, ...)."""
    b = 1
    while b < n:
        b *= 2
    return b


@dataclass
class GenStats:
    calls: int = 0
    fallback_calls: int = 0
    graphs_captured: int = 0
    engines: int = 0
    decode_steps: int = 0
    tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    capture_s: float = 0.0
    refresh_s: float = 0.0
    shared_prefill_rows: int = 0  # rows whose prefill was shared with an identical prompt
    keys: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _Engine:
    """Static buffers (KV cache, decode state, output) and, on CUDA, the captured graph of one shape bucket."""

    def __init__(self, gen: "FastGenerator", batch: int, length: int, params: SamplingParams) -> None:
        import torch

        w, dev = gen.weights, gen.device
        self.gen, self.batch, self.length, self.params = gen, batch, length, params
        shape = (batch, w.n_kv, length, w.head_dim)
        self.k = [torch.zeros(shape, device=dev, dtype=w.dtype) for _ in w.layers]
        self.v = [torch.zeros(shape, device=dev, dtype=w.dtype) for _ in w.layers]
        long = dict(device=dev, dtype=torch.long)
        self.tokens = torch.zeros(batch, **long)
        self.pos = torch.zeros(batch, **long)
        self.cache_idx = torch.zeros(1, **long)
        self.step_idx = torch.zeros(1, **long)
        self.finished = torch.zeros(batch, device=dev, dtype=torch.bool)
        self.valid = torch.zeros(batch, length, device=dev, dtype=torch.bool)
        self.out = torch.zeros(batch, params.max_new_tokens, **long)
        self.presence = (torch.zeros(batch, w.lm_head.shape[0], device=dev, dtype=torch.bool)
                         if params.needs_presence else None)
        self.pad = torch.tensor(params.pad_token_id, **long)
        self.eos_ids = tensor_ids(params.eos_token_ids, dev)
        self.suppress_ids = tensor_ids(params.suppress_tokens, dev)
        self.graph = None

    # -- state --------------------------------------------------------------------------------------------
    def _state(self) -> list:
        return [t for t in (self.tokens, self.pos, self.cache_idx, self.step_idx, self.finished, self.valid,
                            self.out, self.presence) if t is not None]

    def reset(self, rows: int, prompt_len: int, attention_mask, next_pos, prompt_ids) -> None:
        p = self.params
        self.valid.zero_()
        self.valid[:rows, :prompt_len].copy_(attention_mask.bool())
        self.valid[rows:, 0] = True  # padding rows attend to one column (never an all -inf softmax)
        self.tokens.fill_(p.pad_token_id)
        self.pos.zero_()
        self.pos[:rows].copy_(next_pos)
        self.cache_idx.fill_(prompt_len)
        self.step_idx.zero_()
        self.finished.zero_()
        self.finished[rows:] = True
        self.out.fill_(p.pad_token_id)
        if self.presence is not None:  # tokens of the prompt (pads excluded, as transformers 5.x does)
            import torch

            counts = torch.zeros(rows, self.presence.shape[1], device=self.presence.device, dtype=torch.int32)
            counts.scatter_add_(1, prompt_ids, attention_mask.to(torch.int32))
            self.presence.zero_()
            self.presence[:rows].copy_(counts > 0)

    # -- the step -----------------------------------------------------------------------------------------
    def record(self, logits) -> None:
        """Processors, choice, EOS bookkeeping and the output write for one step (all on static buffers)."""
        import torch

        p = self.params
        scores = process_scores(logits, p, self.step_idx[0], self.presence, self.eos_ids, self.suppress_ids)
        nxt = choose_tokens(scores, p)
        nxt = torch.where(self.finished, self.pad, nxt)
        self.out.index_copy_(1, self.step_idx.clamp(max=p.max_new_tokens - 1), nxt[:, None])
        if self.eos_ids.numel():
            self.finished.logical_or_((nxt[:, None] == self.eos_ids[None, :]).any(dim=1))
        if self.presence is not None:
            self.presence.scatter_(1, nxt[:, None], True)
        self.tokens.copy_(nxt)
        self.step_idx.add_(1)

    def step(self) -> None:
        """Feed `tokens` at `pos` into column `cache_idx`, then record the next token."""
        import torch.nn.functional as F

        w, gen = self.gen.weights, self.gen
        x = F.embedding(self.tokens, w.embed)
        cos, sin = rope_cos_sin(self.pos, w.inv_freq, w.rope_scaling, w.dtype)
        self.valid.index_fill_(1, self.cache_idx, True)
        fn = gen.layer_fn
        shared = getattr(w, "shared", False)
        for i, lw in enumerate(w.layers):
            if shared:  # generation_weights=shared: the training tensors by reference (sif.fastgen.shared)
                x = fn(x, lw, self.k[i], self.v[i], cos, sin, self.cache_idx, self.valid, w.n_heads, w.n_kv,
                       w.head_dim, w.eps)
            else:
                x = fn(x, lw["ln1"], lw["wqkv"], lw["bqkv"], lw["wo"], lw["ln2"], lw["wgu"], lw["wdown"],
                       self.k[i], self.v[i], cos, sin, self.cache_idx, self.valid,
                       w.n_heads, w.n_kv, w.head_dim, w.inter, w.eps, lw["qn"], lw["kn"])
        x = rms_norm(x, w.norm, w.eps)
        logits = (lin(x, w.head) if shared else F.linear(x, w.lm_head)).float()
        self.pos.add_(1)
        self.cache_idx.add_(1)
        self.record(logits)

    def capture(self) -> None:
        """Warm up (compiles), restore the state, capture one step in a CUDA graph."""
        import torch

        saved = [t.clone() for t in self._state()]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self.step()
        torch.cuda.current_stream().wait_stream(stream)
        for t, s in zip(self._state(), saved):
            t.copy_(s)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.gen.graph_pool):
            self.step()
        self.graph = graph
        for t, s in zip(self._state(), saved):  # capture does not run kernels, but be safe
            t.copy_(s)

    def run_step(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        else:
            self.step()


class FastGenerator:
    """Static-cache, CUDA-graph, compiled generation for rollouts and batched eval (see the module docstring).

    `rollout_cfg` (a RolloutConfig, DictConfig or dict; the schema's defaults fill the rest) fields used:
    compile, length_buckets, cuda_graphs and check_every.
    """

    def __init__(self, model: Any, processor: Any = None, rollout_cfg: Any = None) -> None:
        import torch

        self.model = model
        self.processor = processor
        from sif.config.training import RolloutConfig
        from sif.config.typed import typed

        cfg = typed(RolloutConfig, rollout_cfg)
        self.compile, self.cuda_graphs = bool(cfg.compile), bool(cfg.cuda_graphs)
        self.length_buckets = [int(b) for b in (cfg.length_buckets or DEFAULT_LENGTH_BUCKETS)]
        self.check_every = max(1, int(cfg.check_every))
        self.shared_weights = str(getattr(cfg, "generation_weights", "copy")) == "shared"
        self.stack = find_text_stack(model)
        self.mode = "graph" if self.stack is not None else "hf_static"
        if self.mode == "hf_static":
            log.warning("rollout=hf_fast: %s has no fast decoder; using transformers' static-cache generate",
                        type(unwrap(model)).__name__)
        self.weights: Optional[DecodeWeights] = None
        self.engines: dict[tuple, _Engine] = {}
        self.stats = GenStats()
        self.graph_pool = None
        self._layer_fn = None
        self._compile_failed = False
        self._warned: set[str] = set()
        self._torch = torch

    # -- properties -------------------------------------------------------------------------------------
    @property
    def device(self):
        return self.stack.embed.weight.device if self.stack is not None else next(self.model.parameters()).device

    @property
    def on_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def layer_fn(self):
        if self._layer_fn is None:
            step_fn = layer_step_shared if self.shared_weights else layer_step
            self._layer_fn = step_fn
            if self.compile and self.on_cuda and not self._compile_failed:
                import torch._dynamo as dynamo

                for name in ("recompile_limit", "cache_size_limit"):
                    if hasattr(dynamo.config, name):
                        setattr(dynamo.config, name, max(64, getattr(dynamo.config, name)))
                self._layer_fn = self._torch.compile(step_fn, dynamic=False, fullgraph=True)
        return self._layer_fn

    def _warn_once(self, key: str, msg: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    # -- the public call ----------------------------------------------------------------------------------
    def generate(self, input_ids=None, attention_mask=None, generation_config: Any = None, model: Any = None,
                 **kwargs: Any):
        """Like `model.generate(input_ids=..., attention_mask=..., <vision inputs>, generation_config=...)`:
        returns [B, prompt_len + new_len] token ids (prompt included), cut where `generate` would stop."""
        torch = self._torch
        model = model if model is not None else self.model
        if self.stack is not None and model is not self.model:
            self.stack = find_text_stack(model)
            self.model = model
        gen_overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in _generation_keys()}
        model_inputs = kwargs
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        self.stats.calls += 1
        gc = self._resolve_config(model, generation_config, gen_overrides)
        try:
            params = SamplingParams.from_generation_config(gc, prompt_length=int(input_ids.shape[1]))
        except UnsupportedGeneration as exc:
            self._warn_once(f"unsupported:{exc}", "rollout=hf_fast: %s; using plain generate", exc)
            return self._plain_generate(model, input_ids, attention_mask, gc, model_inputs, static=False)
        if self.mode != "graph":
            return self._plain_generate(model, input_ids, attention_mask, gc, model_inputs, static=True)
        if not bool(attention_mask[:, -1].all()):
            self._warn_once("rightpad", "rollout=hf_fast: prompts are not left-padded; using plain generate")
            return self._plain_generate(model, input_ids, attention_mask, gc, model_inputs, static=False)
        with torch.no_grad():
            return self._generate_graph(model, input_ids, attention_mask, params, model_inputs)

    # -- pieces ---------------------------------------------------------------------------------------------
    def _resolve_config(self, model: Any, gc: Any, overrides: dict) -> Any:
        """The config `generate` would use: the given one, completed by the model's generation config and the
        library defaults (transformers' own `_prepare_generation_config`), with keyword overrides applied."""
        base = unwrap(model)
        prepare = getattr(base, "_prepare_generation_config", None)
        if prepare is not None:
            try:
                out = prepare(copy.deepcopy(gc) if gc is not None else None, **overrides)
                return out[0] if isinstance(out, tuple) else out
            except Exception as exc:  # noqa: BLE001 - private API; fall back to a plain merge
                log.debug("_prepare_generation_config failed: %s", exc)
        from transformers import GenerationConfig

        gc = copy.deepcopy(gc) if gc is not None else copy.deepcopy(getattr(base, "generation_config", GenerationConfig()))
        for k, v in overrides.items():
            setattr(gc, k, v)
        return gc

    def _plain_generate(self, model, input_ids, attention_mask, gc, model_inputs, static: bool):
        self.stats.fallback_calls += 1
        gc = copy.deepcopy(gc)
        if static:
            gc.cache_implementation = "static"
            if hasattr(gc, "disable_compile"):
                gc.disable_compile = not self.compile
        with self._torch.no_grad():
            return model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=gc,
                                  **model_inputs)

    def _engine(self, rows: int, total: int, params: SamplingParams) -> _Engine:
        key = (bucket_batch(rows), bucket_length(total, self.length_buckets), params)
        engine = self.engines.get(key)
        if engine is None:  # a larger batch bucket of the same length and settings serves smaller batches too
            bigger = [k for k in self.engines if k[1:] == key[1:] and k[0] >= key[0]]
            if bigger:
                engine = self.engines[min(bigger)]
        if engine is None:
            engine = _Engine(self, key[0], key[1], params)
            self.engines[key] = engine
            self.stats.engines += 1
            self.stats.keys.append([key[0], key[1]])
        return engine

    def _generate_graph(self, model, input_ids, attention_mask, params: SamplingParams, model_inputs: dict):
        torch = self._torch
        t0 = time.perf_counter()
        dev = self.device
        rows, prompt_len = (int(n) for n in input_ids.shape)
        input_ids, attention_mask = input_ids.to(dev), attention_mask.to(dev)
        if self.weights is None:
            dtype = self.stack.embed.weight.dtype
            self.weights = (SharedWeights if self.shared_weights else DecodeWeights)(self.stack, dev, dtype)
        self.weights.refresh(self.stack)
        t1 = time.perf_counter()
        self.stats.refresh_s += t1 - t0

        base = unwrap(model)
        positions, next_pos = prompt_positions(base, input_ids, attention_mask, model_inputs)
        engine = self._engine(rows, prompt_len + params.max_new_tokens, params)
        # identical prompts (GRPO: each prompt x num_generations) are prefilled once and their cache shared
        uniq, inverse, sub_inputs = shared_prefix_rows(base, input_ids, attention_mask, model_inputs)
        if uniq is None:
            logits, cache = self._prefill(model, input_ids, attention_mask, positions, model_inputs)
        else:
            sub_pos = None if positions is None else positions.index_select(positions.dim() - 2, uniq)
            logits, cache = self._prefill(model, input_ids.index_select(0, uniq), attention_mask.index_select(0, uniq),
                                          sub_pos, sub_inputs)
            logits = logits.index_select(0, inverse)
            self.stats.shared_prefill_rows += rows - int(uniq.numel())
        for i, (k, v) in enumerate(_cache_layers(cache, len(self.weights.layers))):
            if uniq is not None:
                k, v = k.index_select(0, inverse), v.index_select(0, inverse)
            engine.k[i][:rows, :, :prompt_len].copy_(k)
            engine.v[i][:rows, :, :prompt_len].copy_(v)
        del cache
        engine.reset(rows, prompt_len, attention_mask, next_pos, input_ids)
        full = torch.zeros(engine.batch, logits.shape[-1], device=dev, dtype=torch.float32)
        full[:rows] = logits
        engine.record(full)
        if self.on_cuda:
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        self.stats.prefill_s += t2 - t1

        if engine.graph is None and self.on_cuda and self.cuda_graphs and params.max_new_tokens > 1:
            try:
                engine.capture()
                self.stats.graphs_captured += 1
            except Exception as exc:  # noqa: BLE001 - compile/capture trouble: run eagerly, say so once
                if self.compile and not self._compile_failed:
                    self._warn_once("capture", "rollout=hf_fast: compiled capture failed (%s: %s); retrying without "
                                    "torch.compile", type(exc).__name__, exc)
                    self._compile_failed = True
                    self._layer_fn = None
                    torch.cuda.synchronize()
                    engine.capture()
                    self.stats.graphs_captured += 1
                else:
                    raise
            t3 = time.perf_counter()
            self.stats.capture_s += t3 - t2
            t2 = t3

        steps = 1
        while steps < params.max_new_tokens:
            if steps % self.check_every == 0 and bool(engine.finished.all()):
                break
            engine.run_step()
            steps += 1
        if self.on_cuda:
            torch.cuda.synchronize()
        self.stats.decode_s += time.perf_counter() - t2
        self.stats.decode_steps += steps - 1

        gen = engine.out[:rows, :steps].clone()
        n = _stop_length(gen, params.eos_token_ids)
        self.stats.tokens += rows * n
        return torch.cat([input_ids, gen[:, :n].to(input_ids.dtype)], dim=1)

    def _prefill(self, model, input_ids, attention_mask, positions, model_inputs):
        """One ordinary forward over the prompts (eval mode, cache on): last-position logits and the cache."""
        was_training = model.training
        model.eval()
        try:
            kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, use_cache=True, return_dict=True)
            if positions is not None:
                kwargs["position_ids"] = positions
            params = _forward_params(unwrap(model))
            if "logits_to_keep" in params:
                kwargs["logits_to_keep"] = 1
            dev = input_ids.device
            for k, v in model_inputs.items():
                kwargs[k] = v.to(dev) if hasattr(v, "to") else v
            out = model(**kwargs)
        finally:
            model.train(was_training)
        cache = out.get("cache", None) if hasattr(out, "get") else None
        if cache is None:
            cache = getattr(out, "past_key_values", None)
        return out.logits[:, -1, :].float(), cache


def _forward_params(base: Any) -> set:
    try:
        return set(inspect.signature(base.forward).parameters)
    except (TypeError, ValueError):
        return set()


def _cache_layers(cache: Any, n_layers: int):
    """(keys, values) [B, KV, L, D] of every layer of a transformers cache (5.x layers, or older key_cache)."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [(layer.keys, layer.values) for layer in layers[:n_layers]]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))
    return [tuple(cache[i][:2]) for i in range(n_layers)]


def _stop_length(gen, eos_ids: Sequence[int]) -> int:
    """How many new tokens `generate` returns: up to the step where the last row emitted EOS, else all."""
    import torch

    steps = int(gen.shape[1])
    if not eos_ids or steps == 0:
        return steps
    is_eos = torch.isin(gen, torch.tensor(list(eos_ids), device=gen.device))
    if not bool(is_eos.any(dim=1).all()):
        return steps
    first = is_eos.int().argmax(dim=1)
    return int(first.max()) + 1


def shared_prefix_rows(base: Any, input_ids, attention_mask, model_inputs: dict):
    """(unique row indices, row -> unique position, the model inputs of the unique rows), or (None, None, None)
    when every row is distinct or the inputs hold something this does not know how to split (videos, ...).

    Rows are identical when their token ids, attention masks, image grids and pixel values all are; the images
    of a row are found by counting its image tokens (t*h*w / merge^2 per image, in order)."""
    import torch

    rows = int(input_ids.shape[0])
    known = {"pixel_values", "image_grid_thw", "mm_token_type_ids", "token_type_ids"}
    if rows < 2 or any(v is not None and k not in known for k, v in model_inputs.items()):
        return None, None, None
    pixels, grid = model_inputs.get("pixel_values"), model_inputs.get("image_grid_thw")
    if (pixels is None) != (grid is None):
        return None, None, None
    spans: list[list[tuple[int, int]]] = [[] for _ in range(rows)]  # per row: (first image, image count)
    patch_start: list[int] = []
    if grid is not None:
        image_id = getattr(base.config, "image_token_id", None)
        vision = getattr(base.config, "vision_config", None)
        merge = int(getattr(vision, "spatial_merge_size", 2) or 2) ** 2
        if image_id is None:
            return None, None, None
        per_image = [int(g.prod()) for g in grid.cpu()]
        tokens = (input_ids == image_id).logical_and(attention_mask.bool()).sum(dim=1).tolist()
        j, offset = 0, 0
        for r in range(rows):
            first, need = j, int(tokens[r])
            while need > 0:
                if j >= len(per_image):
                    return None, None, None
                need -= per_image[j] // merge
                patch_start.append(offset)
                offset += per_image[j]
                j += 1
            if need != 0:
                return None, None, None
            spans[r] = [(first, j - first)]
        if j != len(per_image) or offset != int(pixels.shape[0]):
            return None, None, None
        patch_start.append(offset)

    def images_of(r: int) -> list[int]:
        first, count = spans[r][0] if spans[r] else (0, 0)
        return list(range(first, first + count))

    def same(a: int, b: int) -> bool:
        if not (torch.equal(input_ids[a], input_ids[b]) and torch.equal(attention_mask[a], attention_mask[b])):
            return False
        ia, ib = images_of(a), images_of(b)
        if len(ia) != len(ib):
            return False
        for x, y in zip(ia, ib):
            if not torch.equal(grid[x], grid[y]):
                return False
            if not torch.equal(pixels[patch_start[x]:patch_start[x + 1]], pixels[patch_start[y]:patch_start[y + 1]]):
                return False
        return True

    uniq: list[int] = []
    inverse: list[int] = []
    for r in range(rows):
        for n, u in enumerate(uniq):
            if same(r, u):
                inverse.append(n)
                break
        else:
            inverse.append(len(uniq))
            uniq.append(r)
    if len(uniq) == rows:
        return None, None, None
    dev = input_ids.device
    sub: dict = {}
    for k, v in model_inputs.items():
        if k in ("mm_token_type_ids", "token_type_ids"):
            sub[k] = v.index_select(0, torch.tensor(uniq, device=v.device))
    if grid is not None:
        imgs = [x for u in uniq for x in images_of(u)]
        sub["image_grid_thw"] = grid.index_select(0, torch.tensor(imgs, device=grid.device))
        sub["pixel_values"] = torch.cat([pixels[patch_start[x]:patch_start[x + 1]] for x in imgs])
    return (torch.tensor(uniq, device=dev, dtype=torch.long), torch.tensor(inverse, device=dev, dtype=torch.long),
            sub)


def _mm_token_types(base: Any, input_ids):
    import torch

    types = torch.zeros_like(input_ids, dtype=torch.int)
    cfg = base.config
    for value, key in ((1, "image_token_id"), (2, "video_token_id")):
        tid = getattr(cfg, key, None)
        if tid is not None:
            types[input_ids == tid] = value
    return types


def prompt_positions(base: Any, input_ids, attention_mask, model_inputs: dict):
    """(position_ids to pass to the prefill or None, next position [B] of the first generated token).

    Vision-language models: transformers' own `get_rope_index` (3-D M-RoPE positions); a generated token's
    three components are equal and continue from the largest prompt position, so decoding needs only
    1-D RoPE at max + 1 + t. Text models: the usual cumulative positions over the attention mask.
    """
    import torch

    mask = attention_mask.bool()
    inner = getattr(base, "model", None)
    rope_index = getattr(inner, "get_rope_index", None) or getattr(base, "get_rope_index", None)
    has_vision = any(model_inputs.get(k) is not None for k in ("image_grid_thw", "video_grid_thw"))
    if rope_index is not None and has_vision:
        params = inspect.signature(rope_index).parameters
        kwargs: dict[str, Any] = {}
        for name in ("image_grid_thw", "video_grid_thw", "second_per_grid_ts", "mm_token_type_ids"):
            if name in params and model_inputs.get(name) is not None:
                kwargs[name] = model_inputs[name]
        if "mm_token_type_ids" in params and "mm_token_type_ids" not in kwargs:
            kwargs["mm_token_type_ids"] = _mm_token_types(base, input_ids)
        if "attention_mask" in params:
            kwargs["attention_mask"] = attention_mask
        positions, _ = rope_index(input_ids, **kwargs)
        positions = positions.to(input_ids.device)
        top = positions.masked_fill(~mask[None], -1).amax(dim=(0, 2))
        return positions, top + 1
    text = (attention_mask.long().cumsum(-1) - 1).masked_fill(~mask, 1)
    top = text.masked_fill(~mask, -1).amax(dim=1)
    if rope_index is not None:  # a VL model on text only: the same positions on all three axes
        return text[None].expand(3, -1, -1), top + 1
    return text, top + 1
