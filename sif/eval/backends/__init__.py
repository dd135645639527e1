"""Inference backends, registered in `sif.registry.BACKENDS` under the names `backend=` uses.

`BACKENDS.get(name)(cfg_backend, model_cfg, cache_dir, checkpoint=None)` gives a `Backend` whose
`generate(requests)` returns one completion per `GenRequest`. Every backend sends THE prompt
(`sif.prompt.build_messages`: the RGB image, then the depth colour image, the same text parts):

- `hf`: transformers `generate`, batched with left padding, greedy unless `do_sample`;
- `vllm`: the offline `vllm.LLM` engine (optional dependency: `pip install sif[vllm]`);
- `openai`: any OpenAI-compatible server through `sif.llm.LLMClient` (bounded concurrency, retries,
  on-disk response cache), images as data URLs.
"""

from sif.autoload import import_submodules
from sif.eval.backends.base import Backend, GenRequest, build_backend, request_messages

__all__ = ["Backend", "GenRequest", "build_backend", "request_messages"]

import_submodules(__name__, __path__)
