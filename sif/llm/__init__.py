"""OpenAI-compatible LLM access: the chat client (bounded concurrency, retries, budget, cache) and the judge."""

from sif.llm.client import LLMClient, is_loopback_url, resolve_api_key
from sif.llm.errors import CallStats, LLMError, MissingAPIKeyError
from sif.llm.images import image_to_data_url, sniff_mime
from sif.llm.judge import JUDGE_SYSTEM_PROMPT, Judge, JudgeItem, judge_messages, parse_score

__all__ = [
    "CallStats", "JUDGE_SYSTEM_PROMPT", "Judge", "JudgeItem", "LLMClient", "LLMError", "MissingAPIKeyError",
    "image_to_data_url", "is_loopback_url", "judge_messages", "parse_score", "resolve_api_key", "sniff_mime",
]
