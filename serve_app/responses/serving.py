"""``POST /v1/responses``: the chat endpoint's work (the shared generation step: limits, admission, guard, tools,
structured outputs), answered as OpenAI's Responses API answers: a ``response`` object whose ``output`` holds
reasoning, message and function-call items, or, streamed, its typed events (``response.created`` ...
``response.output_text.delta`` ... ``response.completed``)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.responses import Response

from deployments.llm_protocol import GenerationChunk, GenerationRequest
from serve_app.catalog import ModelEntry
from serve_app.chat.images import ImagePolicy
from serve_app.chat.serving import ChatEndpoint
from serve_app.generation import Collected, prepend
from serve_app.generation_step import Answer, GenerationStep, Plan
from serve_app.keys import ApiKey
from serve_app.responses.protocol import NamedFunction, ResponseCreateRequest


class ResponsesService:
    def __init__(self, step: GenerationStep, images: ImagePolicy) -> None:
        self._step = step
        self._images = images

    async def create(self, body: ResponseCreateRequest, key: ApiKey, request_id: str) -> Response:
        return await self._step.run(ResponsesEndpoint(body, ChatEndpoint(body.to_chat(), self._images)), key,
                                    request_id)


class ResponsesEndpoint:
    """The chat endpoint, with the Responses API's ids, metering name and answer shapes."""

    def __init__(self, body: ResponseCreateRequest, chat: ChatEndpoint) -> None:
        self._body = body
        self._chat = chat

    def plan(self) -> Plan:
        return dataclasses.replace(self._chat.plan(), operation="responses", id_prefix="resp_", prompt_param="input")

    def check(self, entry: ModelEntry) -> None:
        self._chat.check(entry)

    async def prepare(self) -> None:
        await self._chat.prepare()

    def requested_output(self, cap: int | None) -> tuple[int | None, str]:
        requested, _ = self._chat.requested_output(cap)
        return requested, "max_output_tokens"

    def prompt_estimate(self, entry: ModelEntry) -> int:
        return self._chat.prompt_estimate(entry)

    def request(self, request_id: str, max_tokens: int | None) -> GenerationRequest:
        return self._chat.request(request_id, max_tokens)

    def answer(self, collected: Collected, ids: Answer) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if reasoning := collected.reasoning.get(0):
            output.append(_reasoning_item(_item_id("rs"), reasoning))
        text, calls = collected.texts.get(0, ""), collected.calls(0)
        if text or not calls:
            output.append(_message_item(_item_id("msg"), text, "completed"))
        output.extend(_call_item(_item_id("fc"), call["id"], call["function"]["name"], call["function"]["arguments"],
                                 "completed") for call in calls)
        usage = _usage(collected.prompt_tokens, collected.completion_tokens, collected.reasoning_tokens)
        return self._response(ids, collected.finish_reasons.get(0, "stop"), output, usage)

    async def events(self, chunks: AsyncIterator[GenerationChunk], ids: Answer) -> AsyncIterator[ServerSentEvent]:
        first = await anext(chunks)  # an engine error before any token becomes a plain HTTP error
        stream = _EventStream()
        yield stream.event("response.created", response=self._response(ids, None, [], None))
        yield stream.event("response.in_progress", response=self._response(ids, None, [], None))
        items = _OpenItems(stream)
        last: GenerationChunk | None = None
        finish = "stop"
        async for chunk in prepend(first, chunks):
            last = chunk
            for delta in chunk.choices:
                if delta.index != 0:
                    continue
                for event in items.add(delta.reasoning, delta.text, delta.tool_calls or ()):
                    yield event
                finish = delta.finish_reason or finish
        for event in items.close():
            yield event
        usage = _usage(last.prompt_tokens, last.completion_tokens, last.reasoning_tokens) if last else None
        final = self._response(ids, finish, items.done, usage)
        yield stream.event(f"response.{final['status']}", response=final)

    def _response(self, ids: Answer, finish: str | None, output: list[dict[str, Any]],
                  usage: dict[str, Any] | None) -> dict[str, Any]:
        body = self._body
        status = "in_progress" if finish is None else ("incomplete" if finish == "length" else "completed")
        form = body.text.format if body.text is not None and body.text.format is not None else None
        return {
            "id": ids.id, "object": "response", "created_at": ids.created, "status": status, "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.instructions, "max_output_tokens": body.max_output_tokens, "model": ids.model,
            "output": output, "parallel_tool_calls": body.parallel_tool_calls is not False,
            "previous_response_id": None, "store": False, "background": False,
            "reasoning": {"effort": body.reasoning.effort if body.reasoning else None, "summary": None},
            "temperature": 1.0 if body.temperature is None else body.temperature,
            "top_p": 1.0 if body.top_p is None else body.top_p,
            "text": {"format": form.model_dump(exclude_none=True, by_alias=True) if form else {"type": "text"}},
            "tool_choice": (body.tool_choice.model_dump() if isinstance(body.tool_choice, NamedFunction)
                            else body.tool_choice or "auto"),
            "tools": [tool.model_dump(exclude_none=True) for tool in body.function_tools()],
            "truncation": "disabled", "usage": usage, "user": body.user, "metadata": body.metadata or {},
        }


class _EventStream:
    """Typed server-sent events, numbered as OpenAI numbers them (``sequence_number``)."""

    def __init__(self) -> None:
        self._next = 0

    def event(self, kind: str, **fields: Any) -> ServerSentEvent:
        data = {"type": kind, "sequence_number": self._next, **fields}
        self._next += 1
        return ServerSentEvent(data=json.dumps(data, ensure_ascii=False, separators=(",", ":")), event=kind)


class _OpenItems:
    """The output items of a stream as they open (``output_item.added``), grow (deltas) and close (``.done``)."""

    def __init__(self, stream: _EventStream) -> None:
        self._stream = stream
        self.done: list[dict[str, Any]] = []  # closed items, in output order
        # "reasoning" | "message" | "call-<index>" -> item, in output order (the order they opened in)
        self._open: dict[str, dict[str, Any]] = {}

    def add(self, reasoning: str | None, text: str, calls: Any) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        if reasoning:
            item = self._item("reasoning", lambda: _reasoning_item(_item_id("rs"), ""), events)
            item["content"][0]["text"] += reasoning
            events.append(self._delta("response.reasoning_text.delta", "reasoning", delta=reasoning, content_index=0))
        if text:
            item = self._item("message", lambda: _message_item(_item_id("msg"), "", "in_progress"), events,
                              part=True)
            item["content"][0]["text"] += text
            events.append(self._delta("response.output_text.delta", "message", delta=text, content_index=0,
                                      logprobs=[]))
        for call in calls:
            function = call.get("function") or {}
            name = f"call-{call.get('index', 0)}"
            item = self._item(name, lambda call=call, function=function: _call_item(
                _item_id("fc"), call.get("id") or "", function.get("name") or "", "", "in_progress"), events)
            if function.get("arguments"):
                item["arguments"] += function["arguments"]
                events.append(self._delta("response.function_call_arguments.delta", name,
                                          delta=function["arguments"]))
        return events

    def close(self) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for index, (name, item) in enumerate(self._open.items()):
            if item["type"] == "reasoning":
                events.append(self._delta("response.reasoning_text.done", name, text=item["content"][0]["text"],
                                          content_index=0))
            elif item["type"] == "message":
                part = item["content"][0]
                events.append(self._delta("response.output_text.done", name, text=part["text"], content_index=0,
                                          logprobs=[]))
                events.append(self._delta("response.content_part.done", name, part=part, content_index=0))
            else:
                events.append(self._delta("response.function_call_arguments.done", name,
                                          arguments=item["arguments"], name=item["name"]))
            item["status"] = "completed"
            events.append(self._stream.event("response.output_item.done", output_index=index, item=item))
            self.done.append(item)
        if not self._open:  # nothing generated: an empty message, as the non-streamed answer has
            empty = _message_item(_item_id("msg"), "", "completed")
            events.append(self._stream.event("response.output_item.added", output_index=0, item=empty))
            events.append(self._stream.event("response.output_item.done", output_index=0, item=empty))
            self.done.append(empty)
        return events

    def _item(self, name: str, make: Any, events: list[ServerSentEvent], part: bool = False) -> dict[str, Any]:
        if name not in self._open:
            index = len(self._open)
            item = self._open[name] = make()
            shown = {**item, "content": []} if part else item
            events.append(self._stream.event("response.output_item.added", output_index=index, item=shown))
            if part:
                events.append(self._stream.event("response.content_part.added", item_id=item["id"],
                                                 output_index=index, content_index=0,
                                                 part={"type": "output_text", "text": "", "annotations": []}))
        return self._open[name]

    def _delta(self, kind: str, key: str, **fields: Any) -> ServerSentEvent:
        """An event of the open item ``key`` ("reasoning", "message", "call-<index>")."""
        return self._stream.event(kind, item_id=self._open[key]["id"], output_index=list(self._open).index(key),
                                  **fields)


def _item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {"type": "reasoning", "id": item_id, "summary": [], "content": [{"type": "reasoning_text", "text": text}]}


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def _usage(prompt_tokens: int, completion_tokens: int, reasoning_tokens: int | None) -> dict[str, Any]:
    return {"input_tokens": prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion_tokens, "output_tokens_details": {"reasoning_tokens": reasoning_tokens or 0},
            "total_tokens": prompt_tokens + completion_tokens}
