"""`PipecatEngine`: a pipecat pipeline as the engine of a call (the ``pipecat`` extra).

For each call the engine builds the user's pipeline (``pipeline_factory(call)`` returns a
pipecat ``FrameProcessor`` or ``Pipeline``, a sequence of processors, or an awaitable of
either) and runs it in process between two processors of its own:

- at the head, the caller's audio goes in as ``InputAudioRawFrame`` (PCM16 LE mono at the
  engine's ``sample_rate``) and keys as ``InputDTMFFrame``;
- at the tail, ``OutputAudioRawFrame`` (``TTSAudioRawFrame`` ...) is queued to the bridge's
  `Output.play`, which paces it (audio at another rate is resampled, anything but mono is an
  error); an ``InterruptionFrame`` becomes `Output.clear`.

The pipeline's end (an ``EndFrame``, or its worker finishing any other way) ends the stream
with ``Outcome("finished")`` once the queued audio has played. An error the pipeline reports
(an ``ErrorFrame`` reaching its head: pipecat turns an exception in a processor into one)
cancels it and ends the stream with ``Outcome("error", code="PIPECAT_ERROR")``, unless
``end_on_error=False``. When the stream ends first (the caller hung up), `PipecatEngine.stop`
cancels the pipeline and waits for it.

`PipecatEngine.offer_tools` offers a `ToolRunner`'s tools on a pipeline (declared in the LLM
context, a handler each registered with the LLM service); a tool whose result carries an
outcome (a transfer, a stop) ends the stream with it through `PipecatEngine.end`, which lets
the pipeline finish what it holds first.

pipecat's own turn-taking decides when the bot is interrupted, so the bridge's barge-in is
off by default; with ``barge_in=True`` the bridge flushes the playout when the caller speaks
over the bot and the engine broadcasts an interruption into the pipeline.

Needs ``pip install 'cxmlflow[pipecat]'`` (pipecat-ai 1.4 or later); this module imports
without it, and `PipecatEngine` raises `PipecatUnavailableError` when it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .._conversation import ToolCall
from .._errors import MediaError, MediaFormatError
from ._outcome import Outcome
from .engine import BaseEngine, Output, StreamCall
from .resample import Resampler

if TYPE_CHECKING:
    from ..tools import ToolRunner

__all__ = ["PIPECAT_ERROR", "PipecatEngine", "PipecatUnavailableError", "PipelineFactory"]

log = logging.getLogger(__name__)

#: The outcome code of a stream a pipeline error ended.
PIPECAT_ERROR = "PIPECAT_ERROR"

#: ``pipeline_factory(call)``: a pipecat processor or pipeline, a sequence of processors, or
#: an awaitable of either, built afresh for each call.
PipelineFactory = Callable[[StreamCall], Any]


class PipecatUnavailableError(MediaError):
    """pipecat is not installed: ``pip install 'cxmlflow[pipecat]'``."""

    code: int | str = "PIPECAT_UNAVAILABLE"


@functools.cache
def _pipecat() -> SimpleNamespace:
    """pipecat's names and our two processors, imported and defined on first use."""
    try:
        from pipecat.audio.dtmf.types import KeypadEntry
        from pipecat.frames.frames import (
            CancelFrame,
            EndFrame,
            ErrorFrame,
            FunctionCallResultProperties,
            InputAudioRawFrame,
            InputDTMFFrame,
            InterruptionFrame,
            OutputAudioRawFrame,
        )
        from pipecat.pipeline.pipeline import Pipeline
        from pipecat.pipeline.worker import PipelineParams, PipelineWorker
        from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
        from pipecat.workers.runner import WorkerRunner
    except ImportError as exc:
        raise PipecatUnavailableError(
            "PipecatEngine needs pipecat-ai 1.4 or later: pip install 'cxmlflow[pipecat]'"
        ) from exc

    class CallInput(FrameProcessor):
        """The head: the call's audio and keys go in here; errors come back up to it."""

        def __init__(self, engine: PipecatEngine) -> None:
            super().__init__(name="cxmlflow-input")
            self.engine = engine
            self.ended = False

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, (EndFrame, CancelFrame)):
                self.ended = True
            elif isinstance(frame, ErrorFrame) and direction is FrameDirection.UPSTREAM:
                self.engine._pipeline_error(frame)
            await self.push_frame(frame, direction)

    class CallOutput(FrameProcessor):
        """The tail: audio goes to the bridge's playout, interruptions clear it."""

        def __init__(self, engine: PipecatEngine) -> None:
            super().__init__(name="cxmlflow-output")
            self.engine = engine

        async def process_frame(self, frame: Any, direction: Any) -> None:
            await super().process_frame(frame, direction)
            if direction is FrameDirection.DOWNSTREAM:
                if isinstance(frame, OutputAudioRawFrame):
                    await self.engine._speak(frame.audio, frame.sample_rate, frame.num_channels)
                    return  # played here, as an output transport does
                if isinstance(frame, InterruptionFrame):
                    await self.engine._out().clear()
            await self.push_frame(frame, direction)

    return SimpleNamespace(
        CallInput=CallInput,
        CallOutput=CallOutput,
        FrameProcessor=FrameProcessor,
        InputAudioRawFrame=InputAudioRawFrame,
        InputDTMFFrame=InputDTMFFrame,
        InterruptionFrame=InterruptionFrame,
        KeypadEntry=KeypadEntry,
        Pipeline=Pipeline,
        PipelineParams=PipelineParams,
        PipelineWorker=PipelineWorker,
        WorkerRunner=WorkerRunner,
        EndFrame=EndFrame,
        FunctionCallResultProperties=FunctionCallResultProperties,
    )


def _function_schema() -> Any:
    try:  # pipecat-ai 1.14 moved it; 1.4 to 1.13 have it here
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    except ImportError:
        from pipecat.adapters.schemas.function_schema import FunctionSchema
    return FunctionSchema


def _schema(spec: Mapping[str, Any]) -> Any:
    """A `ToolRunner` spec (``{"type": "function", "function": {...}}``) as pipecat's
    ``FunctionSchema``."""
    inner = spec.get("function")
    function: Mapping[str, Any] = inner if isinstance(inner, Mapping) else spec
    parameters = function.get("parameters") or {}
    return _function_schema()(
        name=str(function["name"]),
        description=str(function.get("description") or ""),
        properties=dict(parameters.get("properties") or {}),
        required=list(parameters.get("required") or []),
    )


class PipecatEngine(BaseEngine):
    """Runs ``pipeline_factory(call)``'s pipecat pipeline as the engine of each call.

    ``sample_rate`` is the rate of the audio both ways (the pipeline's
    ``audio_in_sample_rate`` and ``audio_out_sample_rate``); ``worker_options`` are extra
    ``PipelineWorker`` arguments (the engine turns pipecat's idle timeout and RTVI off: the
    call's own end and a phone are what it serves). One engine serves one call; give
    `StreamServer` a factory (``engine=lambda call: PipecatEngine(...)``).
    """

    barge_in = False

    def __init__(
        self,
        pipeline_factory: PipelineFactory,
        *,
        sample_rate: int = 16000,
        barge_in: bool = False,
        end_on_error: bool = True,
        worker_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._pc = _pipecat()
        super().__init__()
        if sample_rate <= 0:
            raise MediaFormatError(f"sample_rate must be positive, not {sample_rate}")
        self.pipeline_factory, self.sample_rate = pipeline_factory, sample_rate
        self.barge_in, self.end_on_error = barge_in, end_on_error
        self.worker_options: dict[str, Any] = {
            "idle_timeout_secs": None,
            "enable_rtvi": False,
            **(worker_options or {}),
        }
        #: Why the pipeline failed (no secrets: the processor and the exception's type).
        self.error: str | None = None
        #: How `end` asked the stream to end (a tool's transfer or stop), once it did.
        self.outcome: Outcome | None = None
        #: The `ToolRunner`s of `offer_tools` (each is given the call when the engine starts).
        self.runners: list[ToolRunner] = []
        self._input: Any = None
        self._worker: Any = None
        self._task: asyncio.Task[None] | None = None
        self._failed = asyncio.Event()
        self._stopping = False
        self._resamplers: dict[int, Resampler] = {}

    def __repr__(self) -> str:
        return f"PipecatEngine(sample_rate={self.sample_rate}, barge_in={self.barge_in})"

    def offer_tools(self, llm: Any, context: Any, runner: ToolRunner) -> None:
        """Offer ``runner``'s tools on a pipeline: declared in pipecat's LLM ``context``
        (its ``tools``, as ``FunctionSchema``) and one handler each registered with the
        ``llm`` service. A handler runs the call through ``runner`` and gives its result to
        the LLM; when the result carries an outcome (``connect_call``'s transfer,
        ``stop_service``, ``stop_flow``) the LLM is not run again and `end` ends the stream
        with it."""
        specs = runner.specs()
        if not specs:
            return
        context.set_tools([_schema(spec) for spec in specs])
        for name in runner.names:
            llm.register_function(name, self._tool_handler(runner))
        self.runners.append(runner)

    def _tool_handler(self, runner: ToolRunner) -> Callable[[Any], Any]:
        async def handle(params: Any) -> None:
            arguments = params.arguments
            done = await runner.run(
                ToolCall(
                    params.function_name,
                    arguments if isinstance(arguments, Mapping) else {},
                    id=params.tool_call_id or "",
                )
            )
            if done.outcome is None:
                await params.result_callback(done.result)
                return
            properties = self._pc.FunctionCallResultProperties(run_llm=False)
            await params.result_callback(done.result, properties=properties)
            await self.end(done.outcome)

        return handle

    async def end(self, outcome: Outcome) -> None:
        """End the call with ``outcome``: the pipeline finishes what it holds (an
        ``EndFrame`` after it), then the stream ends with ``outcome`` once the queued audio
        has played. The first outcome asked for is the one kept."""
        if self.outcome is None:
            self.outcome = outcome
        await self._queue(self._pc.EndFrame())

    async def start(self, call: StreamCall, output: Output) -> None:
        await super().start(call, output)
        for runner in self.runners:
            if runner.call is None:
                runner.call = call
        built = self.pipeline_factory(call)
        if inspect.isawaitable(built):
            built = await built
        pc = self._pc
        users = [built] if isinstance(built, pc.FrameProcessor) else list(built)
        self._input = pc.CallInput(self)
        pipeline = pc.Pipeline([self._input, *users, pc.CallOutput(self)])
        rate = self.sample_rate
        params = pc.PipelineParams(audio_in_sample_rate=rate, audio_out_sample_rate=rate)
        self._worker = pc.PipelineWorker(pipeline, params=params, **self.worker_options)
        runner = pc.WorkerRunner(handle_sigint=False)
        await runner.add_workers(self._worker)
        self._task = asyncio.create_task(self._run(runner, output), name="pipecat-engine")

    async def audio(self, pcm: bytes) -> None:
        frame = self._pc.InputAudioRawFrame(audio=pcm, sample_rate=self.sample_rate, num_channels=1)
        await self._queue(frame)

    async def dtmf(self, digit: str) -> None:
        await super().dtmf(digit)
        try:
            button = self._pc.KeypadEntry(digit)
        except ValueError:
            return  # not a key pipecat knows (A-D)
        await self._queue(self._pc.InputDTMFFrame(button=button))

    async def interrupted(self, played: float) -> None:
        await super().interrupted(played)
        await self._queue(self._pc.InterruptionFrame())

    async def _queue(self, frame: Any) -> None:
        # The worker holds what comes before the pipeline has started and feeds it in
        # order, through our input processor; after the pipeline's end it is dropped.
        if self._worker is not None and not self._input.ended:
            await self._worker.queue_frame(frame)

    async def stop(self) -> None:
        await super().stop()
        self._stopping = True
        if self._task is None:
            return
        if not self._task.done():
            await self._worker.cancel()
        await self._task

    # --- from the processors and the worker's task ---------------------------------------

    def _pipeline_error(self, frame: Any) -> None:
        kind = type(frame.exception).__name__ if frame.exception is not None else "an error"
        detail = f"{frame.processor or 'the pipeline'} reported {kind}"
        log.warning("pipecat pipeline error: %s", detail)
        if self.end_on_error and self.error is None:
            self.error = detail
            self._failed.set()

    async def _speak(self, audio: bytes, rate: int, channels: int) -> None:
        if channels != 1:
            raise MediaFormatError(f"pipecat output audio has {channels} channels, not 1")
        if rate != self.sample_rate:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                resampler = self._resamplers[rate] = Resampler(rate, self.sample_rate)
            audio = resampler.process(audio)
        if audio:
            await self._out().play(audio)

    async def _run(self, runner: Any, output: Output) -> None:
        running = asyncio.create_task(runner.run(), name="pipecat-runner")
        failing = asyncio.create_task(self._failed.wait(), name="pipecat-failed")
        try:
            await asyncio.wait({running, failing}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                await self._worker.cancel()
            await running
        except Exception as exc:
            log.warning("pipecat pipeline failed", exc_info=True)
            self.error = self.error or f"the pipeline raised {type(exc).__name__}"
        finally:
            for task in (failing, running):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        if self._stopping:
            return
        if self.outcome is not None:
            await output.end(self.outcome)
        elif self.error is not None:
            await output.end(Outcome("error", code=PIPECAT_ERROR, detail=self.error))
        else:
            await output.end(Outcome("finished"))
