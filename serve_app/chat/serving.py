"""Chat completions: what the shared generation step needs of a chat request, and the answer and stream chunks
in OpenAI's shapes (tool calls, log probabilities)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import Response

from deployments.llm_protocol import GenerationChunk, GenerationRequest, ToolCalling
from serve_app.catalog import Capability, ModelEntry
from serve_app.chat.images import ImagePolicy, check_images, load_images
from serve_app.chat.protocol import ChatCompletionRequest
from serve_app.errors import InvalidRequestError
from serve_app.generation import Collected, prepend, usage
from serve_app.generation_step import Answer, GenerationStep, Plan
from serve_app.governance.admission import chat_added_tokens, prompt_bound
from serve_app.keys import ApiKey


class ChatService:
    def __init__(self, step: GenerationStep, images: ImagePolicy) -> None:
        self._step = step
        self._images = images

    async def create(self, body: ChatCompletionRequest, key: ApiKey, request_id: str) -> Response:
        return await self._step.run(ChatEndpoint(body, self._images), key, request_id)


class ChatEndpoint:
    def __init__(self, body: ChatCompletionRequest, images: ImagePolicy) -> None:
        self._body = body
        self._images = images
        self._characters = body.text_characters()  # read by the plan and the prompt estimate: counted once

    def plan(self) -> Plan:
        body = self._body
        return Plan(model=body.model, operation="chat.completions",
                    capability=Capability.VISION if body.has_images else Capability.CHAT, id_prefix="chatcmpl-",
                    stream=body.stream, n=body.n, choices=body.n, prompt_param="messages",
                    prompt_characters=self._characters, guard=[body.guard_messages()])

    def check(self, entry: ModelEntry) -> None:
        if self._body.has_images:
            check_images(self._body, self._images)
        if self._body.uses_tools and not entry.supports(Capability.TOOLS):
            raise InvalidRequestError(f"The model `{entry.id}` does not support tool calling.", param="tools",
                                      code="model_not_supported")

    async def prepare(self) -> None:
        if self._body.has_images:
            await load_images(self._body, self._images)

    def requested_output(self, cap: int | None) -> tuple[int | None, str]:
        body = self._body
        if body.max_completion_tokens is not None:
            return body.max_completion_tokens, "max_completion_tokens"
        return body.max_tokens, "max_tokens"

    def prompt_estimate(self, entry: ModelEntry) -> int:
        if self._body.has_images:  # an image's tokens: up to the context
            return entry.context_length
        return prompt_bound(self._characters, entry.context_length,
                            chat_added_tokens(len(self._body.messages)))

    def request(self, request_id: str, max_tokens: int | None) -> GenerationRequest:
        body = self._body
        tools = None
        if body.tools:
            choice = body.tool_choice if body.tool_choice is not None else "auto"
            tools = ToolCalling(tools=[tool.model_dump(exclude_none=True) for tool in body.tools],
                                choice=choice if isinstance(choice, str) else choice.model_dump(),
                                parallel=body.parallel_tool_calls)
        return GenerationRequest(
            request_id=request_id,
            sampling=body.sampling(max_tokens=max_tokens, json_object=body.json_object, json_schema=body.json_schema,
                                   logprobs=body.top_logprobs_count),
            messages=body.engine_messages(),
            tools=tools,
            template_kwargs={"reasoning_effort": body.reasoning_effort} if body.reasoning_effort else {},
        )

    def answer(self, collected: Collected, ids: Answer) -> dict[str, Any]:
        choices = []
        for index, text in sorted(collected.texts.items()):
            calls = collected.calls(index)
            message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None,
                                       "refusal": None}
            if calls:
                message["tool_calls"] = calls
            if index in collected.reasoning:  # the field vLLM's server fills, and the one DeepSeek's API names
                message["reasoning"] = message["reasoning_content"] = collected.reasoning[index]
            choices.append({"index": index, "message": message,
                             "finish_reason": collected.finish_reasons.get(index, "stop"),
                             "logprobs": self._logprobs(collected.logprobs.get(index, []))})
        return {"id": ids.id, "object": "chat.completion", "created": ids.created, "model": ids.model,
                "choices": choices, "usage": collected.usage().model_dump(exclude_unset=True, exclude_none=True)}

    def _logprobs(self, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
        return {"content": entries, "refusal": None} if self._body.logprobs else None

    async def events(self, chunks: AsyncIterator[GenerationChunk], ids: Answer) -> AsyncIterator[str]:
        body = self._body
        encode = _chunk_encoder(ids, body.include_usage)
        first = await anext(chunks)  # an engine error before any token becomes a plain HTTP error
        yield encode([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                      for i in range(body.n)])
        last = first
        logprobs = bool(body.logprobs)
        async for chunk in prepend(first, chunks):
            last = chunk
            choices = []
            for d in chunk.choices:
                if not (d.text or d.finish_reason or d.tool_calls or d.reasoning):
                    continue
                delta: dict[str, Any] = {"content": d.text} if d.text else {}
                if d.reasoning:
                    delta["reasoning"] = delta["reasoning_content"] = d.reasoning
                if d.tool_calls:
                    delta["tool_calls"] = list(d.tool_calls)
                choice: dict[str, Any] = {"index": d.index, "delta": delta, "finish_reason": d.finish_reason}
                if logprobs:
                    choice["logprobs"] = {"content": list(d.logprobs), "refusal": None}
                choices.append(choice)
            if choices:
                yield encode(choices)
        if body.include_usage:
            final = usage(last.prompt_tokens, last.completion_tokens,
                          last.reasoning_tokens).model_dump(exclude_unset=True, exclude_none=True)
            yield encode([], final)


def _chunk_encoder(ids: Answer, include_usage: bool) -> Callable[..., str]:
    """Encodes stream chunks as ``ChatCompletionChunk`` JSON, from plain values around a prefix encoded once per
    stream (it runs for every token of every stream). With ``include_usage``, every chunk carries ``usage``:
    null, except the last, which has no choices."""
    head = json.dumps({"id": ids.id, "object": "chat.completion.chunk", "created": ids.created, "model": ids.model},
                      ensure_ascii=False, separators=(",", ":"))[:-1] + ',"choices":'
    tail = ',"usage":null}' if include_usage else "}"

    def encode(choices: list[dict[str, Any]], final_usage: dict[str, Any] | None = None) -> str:
        body = head + json.dumps(choices, ensure_ascii=False, separators=(",", ":"))
        if final_usage is not None:
            return body + ',"usage":' + json.dumps(final_usage, separators=(",", ":")) + "}"
        return body + tail

    return encode
