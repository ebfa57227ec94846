"""The OpenAI Agents SDK pointed at the platform's Responses API: a plain agent, an agent that calls a function
tool, and the tool agent streamed. Tracing is off (it would send traces to OpenAI).

Runs in ``.venv-agents``. Reads ``LLMAAS_BASE_URL``, ``LLMAAS_API_KEY`` and ``LLMAAS_MODEL``; prints one JSON
object of what it saw."""

from __future__ import annotations

import asyncio
import json
import os

from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI


@function_tool
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny, 21 C in {city}"


async def main() -> None:
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=os.environ["LLMAAS_BASE_URL"], api_key=os.environ["LLMAAS_API_KEY"], max_retries=0)
    model = OpenAIResponsesModel(model=os.environ["LLMAAS_MODEL"], openai_client=client)
    plain = Agent(name="plain", model=model, model_settings=ModelSettings(max_tokens=20, temperature=0))
    answered = await Runner.run(plain, "What is the capital of France?", max_turns=1)
    weather = Agent(name="weather", instructions="Use the tool to answer.", model=model, tools=[get_weather],
                    model_settings=ModelSettings(tool_choice="required", parallel_tool_calls=False, max_tokens=80,
                                                 temperature=0),
                    tool_use_behavior="stop_on_first_tool")
    called = await Runner.run(weather, "What is the weather in Paris?", max_turns=2)
    streamed = Runner.run_streamed(weather, "What is the weather in Oslo?", max_turns=2)
    kinds = [event.type async for event in streamed.stream_events()]
    print(json.dumps({"plain": answered.final_output, "tool": called.final_output,
                      "tool_items": [item.type for item in called.new_items],
                      "streamed": streamed.final_output, "stream_event_kinds": sorted(set(kinds))}))


if __name__ == "__main__":
    asyncio.run(main())
