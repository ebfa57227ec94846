"""Function tools as OpenAI's Chat Completions API defines them: definitions, ``tool_choice``, the calls an
assistant message carries, and the checks that keep a bad tool schema away from the engine."""

from __future__ import annotations

from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field

from serve_app.body_bounds import MAX_TOOLS
from serve_app.errors import InvalidRequestError

NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"  # OpenAI's rule for function and response-format names


class FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: FunctionDefinition


class FunctionName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"]
    function: FunctionName


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class CalledFunction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    arguments: str


class AssistantToolCall(BaseModel):
    """A call in an assistant message of the history, as the API returned it."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: CalledFunction


def check_schema(schema: dict[str, Any], param: str) -> None:
    """A JSON schema that the JSON Schema meta-schema accepts, else a 400 naming ``param``."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "".join(f"[{part!r}]" if isinstance(part, int) else f".{part}" for part in exc.path)
        raise InvalidRequestError(f"Invalid schema for '{param}': {exc.message} (at '{where or '.'}').",
                                  param=param, code="invalid_value") from None


def check_tools(tools: list[FunctionTool], choice: ToolChoice | None) -> None:
    """Names unique, parameter schemas valid, a named ``tool_choice`` among the tools."""
    if len(tools) > MAX_TOOLS:
        raise InvalidRequestError(f"At most {MAX_TOOLS} tools per request.", param="tools", code="invalid_value")
    names: set[str] = set()
    for index, tool in enumerate(tools):
        if tool.function.name in names:
            raise InvalidRequestError(f"Tool names must be unique: '{tool.function.name}' appears twice.",
                                      param=f"tools[{index}].function.name", code="invalid_value")
        names.add(tool.function.name)
        if tool.function.parameters is not None:
            check_schema(tool.function.parameters, f"tools[{index}].function.parameters")
    if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
        raise InvalidRequestError(f"Invalid value for 'tool_choice': no function named '{choice.function.name}' "
                                  "is in 'tools'.", param="tool_choice", code="invalid_value")
    if choice is not None and not tools:
        raise InvalidRequestError("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' "
                                  "are specified.", param="tool_choice", code="invalid_value")
