"""A LlamaIndex ``OpenAILike`` function-calling round trip against the platform: the model calls a tool, the
tool's result goes back as a ``tool`` message, the model answers; then the same call streamed.

Runs in ``.venv-clients`` (LlamaIndex's pins cannot live beside vLLM's). Reads ``LLMAAS_BASE_URL``,
``LLMAAS_API_KEY`` and ``LLMAAS_MODEL``; prints one JSON object of what it saw for the test to check."""

from __future__ import annotations

import asyncio
import json
import os

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"It is sunny and 21 degrees Celsius in {city}."


def main() -> None:
    llm = OpenAILike(model=os.environ["LLMAAS_MODEL"], api_base=os.environ["LLMAAS_BASE_URL"],
                     api_key=os.environ["LLMAAS_API_KEY"], is_chat_model=True, is_function_calling_model=True,
                     context_window=2048, max_tokens=48, temperature=0.0, max_retries=0, timeout=300)
    tool = FunctionTool.from_defaults(fn=get_weather)
    asked = llm.chat_with_tools([tool], user_msg="What is the weather in Paris?", tool_required=True)
    calls = llm.get_tool_calls_from_response(asked, error_on_no_tool_call=True)
    results = [ChatMessage(role=MessageRole.TOOL, content=str(tool(**call.tool_kwargs)),
                           additional_kwargs={"tool_call_id": call.tool_id, "name": call.tool_name})
               for call in calls]
    history = [ChatMessage(role=MessageRole.USER, content="What is the weather in Paris?"), asked.message, *results]
    final = llm.chat(history)
    streamed = asyncio.run(_streamed_calls(llm, tool))
    print(json.dumps({
        "calls": [{"id": call.tool_id, "name": call.tool_name, "kwargs": call.tool_kwargs} for call in calls],
        "tool_results": [result.content for result in results],
        "final": final.message.content,
        "final_usage": final.raw.usage.model_dump() if final.raw is not None and final.raw.usage else None,
        "streamed_calls": streamed,
    }))


async def _streamed_calls(llm: OpenAILike, tool: FunctionTool) -> list[dict[str, object]]:
    last = None
    async for response in await llm.astream_chat_with_tools([tool], user_msg="Weather in Oslo?", tool_required=True):
        last = response
    assert last is not None, "the stream sent nothing"
    return [{"name": call.tool_name, "kwargs": call.tool_kwargs}
            for call in llm.get_tool_calls_from_response(last, error_on_no_tool_call=True)]


if __name__ == "__main__":
    main()
