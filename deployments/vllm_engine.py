"""The LLM family deployment: vLLM's ``AsyncLLM``, wrapped directly.

Chosen over ``ray.serve.llm.LLMServer`` by measurement (see benchmarks/ and the README): the direct
wrapper adds no stream batching interval and one fewer hop. Prompts are rendered and tokenized here, by
the engine's own renderer, so token counts (and so usage) come from the engine itself.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ray import serve

from deployments.background_gate import BackgroundGate
from deployments.echo import Echo
from deployments.llm_protocol import GenerationChunk, GenerationRequest, SamplingOptions
from deployments.logprobs import token_entries
from deployments.output_reader import OutputReader
from deployments.watchdog import EngineWatch
from serve_app.catalog import ModelEntry
from serve_app.errors import InvalidRequestError

if TYPE_CHECKING:
    from vllm import SamplingParams
    from vllm.inputs.engine import EngineInput

# vLLM parameter names of input checks, mapped to the OpenAI parameter they concern.
_PARAM_NAMES = {"input_tokens": "messages", "input_text": "messages"}
_FINISH_REASONS = {"stop": "stop", "length": "length", "abort": "stop"}
CHAT_TEMPLATES = Path(__file__).resolve().parent / "chat_templates"


def read_chat_template(name: str | None) -> str | None:
    """A catalog entry's ``chat_template``: a file under deployments/chat_templates/ or an absolute path."""
    return None if name is None else (CHAT_TEMPLATES / name).read_text()  # an absolute name replaces the folder


@serve.deployment(max_ongoing_requests=256)
class VLLMDeployment:
    def __init__(self, entry: ModelEntry, stall_seconds: float = 60.0) -> None:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(
            model=entry.source,
            served_model_name=[entry.id],
            max_model_len=entry.context_length,
            enable_log_requests=False,
            disable_log_stats=True,
            tensor_parallel_size=entry.resources.tensor_parallel_size,
            distributed_executor_backend="ray" if entry.resources.tensor_parallel_size > 1 else None,
            # The engine knows where reasoning ends: structured outputs then constrain only the answer.
            reasoning_parser=entry.reasoning_parser or "",
            **entry.engine_args,
        )
        self._engine = AsyncLLM.from_engine_args(args)
        self._context_length = entry.context_length
        self._defaults: dict[str, Any] = self._engine.model_config.get_diff_sampling_param()
        self._watch = EngineWatch(stall_seconds)
        self._model = entry.id
        self._tool_parser = entry.tool_parser
        self._reasoning_parser = entry.reasoning_parser
        self._chat_template = read_chat_template(entry.chat_template)
        self._template_kwargs = dict(entry.chat_template_kwargs)
        self._gate = BackgroundGate()
        # With vLLM's priority scheduling (catalog engine_args `scheduling_policy: priority`), batch lines also
        # yield to interactive requests inside the engine's own batches.
        self._priority_scheduling = entry.engine_args.get("scheduling_policy") == "priority"

    async def generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        if request.background:
            await self._gate.background()
        with contextlib.nullcontext() if request.background else self._gate.interactive():
            async for chunk in self._generate(request):
                yield chunk

    async def _generate(self, request: GenerationRequest) -> AsyncIterator[GenerationChunk]:
        from vllm.exceptions import VLLMValidationError
        from vllm.utils.async_utils import merge_async_iterators

        # Before rendering: the renderer turns the history's tool-call arguments into objects in place.
        calls = OutputReader(request, self._model, self._tool_parser, self._reasoning_parser,
                             self._engine.renderer.tokenizer)
        inputs = await self._render(request)
        prompt_lengths = [len(cast(list[int], engine_input.get("prompt_token_ids", []))) for engine_input in inputs]
        sampling = request.sampling
        tokenizer = cast(Any, self._engine.renderer.tokenizer)
        echo = Echo(sampling.logprobs, tokenizer.decode) if sampling.echo else None
        priority = int(request.background and self._priority_scheduling)  # non-zero only where vLLM takes it
        try:
            streams = [
                self._engine.generate(engine_input, self._sampling_params(sampling, length, calls),
                                      f"{request.request_id}-{index}", priority=priority)
                for index, (engine_input, length) in enumerate(zip(inputs, prompt_lengths, strict=True))
            ]
            n = sampling.n
            completion_tokens = 0
            self._watch.started()
            async for prompt_index, output in merge_async_iterators(*streams):
                await self._watch.hold()
                self._watch.progressed()
                choices = []
                for completion in output.outputs:
                    completion_tokens += len(completion.token_ids)
                    finish = _FINISH_REASONS.get(completion.finish_reason or "")
                    index = prompt_index * n + completion.index
                    logprobs = (token_entries(completion.token_ids, cast(Any, completion.logprobs), sampling.logprobs)
                                if sampling.logprobs is not None else ())
                    text = completion.text
                    if echo is not None:
                        text, logprobs = echo.prefix(index, output, text, logprobs)
                    choices.append(calls.delta(index, text, completion.token_ids, finish, logprobs))
                yield GenerationChunk(choices, sum(prompt_lengths), completion_tokens,
                                      calls.reasoning_tokens if self._reasoning_parser else None)
        except VLLMValidationError as exc:  # vLLM's own checks as it takes the request (token ids out of vocabulary,
            # a JSON schema it cannot compile)
            default = "prompt" if request.messages is None else "messages"
            if sampling.json_schema is not None:
                default = "response_format.json_schema.schema"
            elif calls.schema is not None:
                default = "tools"
            raise InvalidRequestError(str(exc.args[0]), param=exc.parameter or default, code="invalid_value") from None

    async def check_health(self) -> None:
        """Fails when the engine is dead, or hung: requests waited for tokens that never came (see watchdog)."""
        await self._engine.check_health()
        await self._watch.verify(self._one_token)

    def stall_for(self, seconds: float) -> None:
        """Fault hook for tests (Serve handle only): hold back every token for ``seconds``, as a hung engine."""
        self._watch.stall_for(seconds)

    async def _one_token(self) -> None:
        from vllm import SamplingParams

        await self._watch.hold()
        params = SamplingParams(max_tokens=1, temperature=0)
        async for _ in self._engine.generate({"prompt_token_ids": [0]}, params, f"health-{uuid.uuid4().hex}"):
            pass

    async def _render(self, request: GenerationRequest) -> list[EngineInput]:
        from vllm.exceptions import VLLMValidationError
        from vllm.renderers.params import ChatParams, TokenizeParams

        renderer = self._engine.renderer
        tokenize = TokenizeParams(max_total_tokens=self._context_length, add_special_tokens=request.messages is None)
        try:
            if request.messages is not None:
                tools = request.tools.tools if request.tools is not None else None
                chat = ChatParams(chat_template=self._chat_template, chat_template_kwargs={
                    **self._template_kwargs, **request.template_kwargs, "add_generation_prompt": True,
                    "tools": tools})
                _, inputs = await renderer.render_chat_async([cast(Any, request.messages)], chat, tokenize)
                return list(inputs)
            prompts: list[Any] = [{"prompt_token_ids": p} if isinstance(p, list) else {"prompt": p}
                                  for p in request.prompts or []]
            return list(await renderer.render_cmpl_async(prompts, tokenize))
        except VLLMValidationError as exc:
            param = _PARAM_NAMES.get(exc.parameter or "", exc.parameter)
            if request.messages is None and param == "messages":
                param = "prompt"
            raise InvalidRequestError(str(exc.args[0]), param=param, code="context_length_exceeded") from None

    def _sampling_params(self, options: SamplingOptions, prompt_length: int, calls: OutputReader) -> SamplingParams:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind, StructuredOutputsParams

        room = self._context_length - prompt_length
        if (options.max_tokens or 1) > room:
            raise InvalidRequestError(
                f"This model's maximum context length is {self._context_length} tokens. However, you "
                f"requested {prompt_length + (options.max_tokens or 1)} tokens ({prompt_length} in the "
                f"messages, {options.max_tokens or 1} in the completion). Please reduce the length of the messages or "
                "completion.",
                param="max_tokens",
                code="context_length_exceeded",
            )
        explicit = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            "seed": options.seed,
            "presence_penalty": options.presence_penalty,
            "frequency_penalty": options.frequency_penalty,
        }
        values = {**self._defaults, **{k: v for k, v in explicit.items() if v is not None}}
        values.pop("max_new_tokens", None)
        structured = None
        if calls.schema is not None:  # a forced tool call wins over a response format, as in vLLM's server
            structured = StructuredOutputsParams(json=calls.schema)
        elif options.json_schema is not None:
            structured = StructuredOutputsParams(json=options.json_schema)
        elif options.json_object:
            structured = StructuredOutputsParams(json_object=True)
        return SamplingParams(
            **values,
            n=options.n,
            max_tokens=options.max_tokens if options.max_tokens is not None else room,
            stop=options.stop or None,
            output_kind=RequestOutputKind.DELTA,
            structured_outputs=structured,
            logprobs=options.logprobs,
            prompt_logprobs=options.logprobs if options.echo else None,
            logit_bias=options.logit_bias,
            # Tool-call markers are special tokens in many tokenizers: the parser must see them.
            skip_special_tokens=not calls.reads_special_tokens,
        )

