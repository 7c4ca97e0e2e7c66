"""``python -m icefall_lite.server``: a streaming recognition websocket server (asyncio).

Each connection streams one audio signal (protocol: :mod:`icefall_lite.server.protocol`,
docs/server.rst) and gets partial and final results back. The model work of all connections
runs on worker threads with dynamic batching (:mod:`icefall_lite.server.batcher`); the event
loop only moves messages. Faults stay with their connection: a malformed message, a sample rate
that cannot be served, an idle client or a connection over ``--max-connections`` is closed with
a reason, a client that goes away has its stream freed, and the other connections carry on.

The model is one of: the average of ``--exp-dir``'s checkpoints (``--epoch/--avg``, as
streaming_decode.py), ``--checkpoint`` (export.py's pretrained.pt), both rebuilt from the
checkpoint's own description (a causal model; ``--chunk-size``/``--left-context-frames`` choose
its attention), ``--nn-model`` (export.py --jit 1's streaming TorchScript model) or
``--encoder/--decoder/--joiner`` (export.py --onnx 1's streaming files, fp32 or int8).

Example (from egs/an4/ASR, the causal model of the recipe)::

    python -m icefall_lite.server --exp-dir zipformer/exp --epoch 8 --avg 3 \\
        --lang-dir data/lang_bpe_101 --chunk-size 16 --left-context-frames 128 \\
        --blank-penalty 1.0 --port 6006
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import websockets
from websockets.asyncio.server import ServerConnection, serve

from icefall_lite import k2
from icefall_lite.decoding.config import DecodingConfig
from icefall_lite.recipe.common import BpeCodec, read_word_table
from icefall_lite.recipe.decode import (
    add_checkpoint_arguments,
    decoding_model_info,
    load_decoding_model,
    parse_args,
)
from icefall_lite.recipe.model_info import add_model_arguments
from icefall_lite.recipe.pretrained import load_model as load_model_file
from icefall_lite.recipe.pretrained import model_streams, use_checkpoint_features
from icefall_lite.recipe.streaming_decode import STREAMING_DEFAULTS
from icefall_lite.runtime import OnnxTransducer
from icefall_lite.server.batcher import Batcher
from icefall_lite.server.engine import SERVER_METHODS, EndpointConfig, Engine
from icefall_lite.server.protocol import (
    CLOSE_BUSY,
    CLOSE_UNSUPPORTED,
    ProtocolError,
    decode_samples,
    encode,
    parse_json,
    parse_start,
)
from icefall_lite.training.safe_load import load_weights_only
from icefall_lite.utils.config import HelpFormatter, add_dataclass_arguments, config_from_args
from icefall_lite.utils.logging import setup_logging

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ServerConfig:
    """Connection handling. ``idle_timeout``: seconds without a message before a connection is
    closed; ``allow_resample``: serve clients at other sample rates (lhotse's resampler) rather
    than reject them."""

    max_connections: int = 200
    idle_timeout: float = 30.0
    allow_resample: bool = True
    default_method: str = "greedy_search"


class RecognitionServer:
    """The websocket handler around a :class:`Batcher`."""

    def __init__(self, batcher: Batcher, config: ServerConfig) -> None:
        self.batcher = batcher
        self.config = config
        self.ids = itertools.count(1)
        self.active = 0

    async def handle(self, ws: ServerConnection) -> None:
        conn_id = next(self.ids)
        if self.active >= self.config.max_connections:
            reason = (f"server busy: {self.active} connections open, the limit is "
                      f"{self.config.max_connections}; try again later")
            logger.warning("[conn %d] rejected: %s", conn_id, reason)
            await ws.send(encode({"type": "error", "reason": reason}))
            await ws.close(CLOSE_BUSY, reason)
            return
        self.active += 1
        logger.info("[conn %d] open from %s", conn_id, ws.remote_address)
        try:
            await self._serve(conn_id, ws)
        finally:
            self.active -= 1
            self.batcher.close(conn_id)

    async def _serve(self, conn_id: int, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue = asyncio.Queue()
        sender = asyncio.create_task(self._send(conn_id, ws, outbox))
        try:
            await self._receive(conn_id, ws, lambda m: loop.call_soon_threadsafe(
                outbox.put_nowait, m))
            await sender
        except ProtocolError as e:
            logger.warning("[conn %d] closing: %s", conn_id, e)
            await ws.send(encode({"type": "error", "reason": str(e)}))
            await ws.close(e.code, str(e)[:120])
        except websockets.ConnectionClosed as e:
            logger.info("[conn %d] client went away (%s)", conn_id, e)
        finally:
            sender.cancel()

    async def _recv(self, ws: ServerConnection) -> str | bytes:
        try:
            return await asyncio.wait_for(ws.recv(), self.config.idle_timeout)
        except asyncio.TimeoutError:
            raise ProtocolError(f"idle for {self.config.idle_timeout:g} s: closing") from None

    async def _receive(self, conn_id: int, ws: ServerConnection, emit) -> None:
        start = parse_start(await self._recv(ws))
        rate = self.batcher.engine.sample_rate
        if start.sample_rate != rate and not self.config.allow_resample:
            raise ProtocolError(f"sample rate {start.sample_rate} Hz: this server takes "
                                f"{rate} Hz audio only (started with resampling off)",
                                CLOSE_UNSUPPORTED)
        method = start.method or self.config.default_method
        try:
            self.batcher.open(conn_id, method, start.options, start.sample_rate, emit)
        except ValueError as e:
            raise ProtocolError(str(e)) from e
        logger.info("[conn %d] start: %s, %d Hz %s%s", conn_id, method, start.sample_rate,
                    start.format, " (resampled)" if start.sample_rate != rate else "")
        await ws.send(encode({"type": "ready", "conn_id": conn_id, "method": method,
                              "sample_rate": rate}))
        while True:
            message = await self._recv(ws)
            if isinstance(message, bytes):
                self.batcher.feed(conn_id, decode_samples(message, start.format))
                continue
            parse_json(message, "end")
            self.batcher.end(conn_id)
            logger.info("[conn %d] end of audio", conn_id)
            return

    async def _send(self, conn_id: int, ws: ServerConnection, outbox: asyncio.Queue) -> None:
        """Send results until the last final (then close normally) or an error."""
        while True:
            message = await outbox.get()
            await ws.send(encode(message))
            if message["type"] == "final" and message["last"]:
                logger.info("[conn %d] final: %r", conn_id, message["text"])
                await ws.close(1000, "done")
                return
            if message["type"] == "error":
                await ws.close(1011, message["reason"][:120])
                return


# ----------------------------------------------------------------------------------------------
# model and command line


def model_source(args: argparse.Namespace) -> str:
    """Which model the arguments name: ``onnx``, ``jit``, ``checkpoint`` or ``exp_dir`` (the
    default); ValueError if several, or an incomplete ONNX triple."""
    onnx = [args.encoder, args.decoder, args.joiner]
    kinds = [k for k, given in (("checkpoint", args.checkpoint is not None),
                                ("jit", args.nn_model is not None),
                                ("onnx", any(p is not None for p in onnx))) if given]
    if len(kinds) > 1:
        raise ValueError(f"give at most one of --checkpoint, --nn-model and "
                         f"--encoder/--decoder/--joiner, not {' and '.join(kinds)}")
    if kinds == ["onnx"] and any(p is None for p in onnx):
        raise ValueError("the ONNX model needs all of --encoder, --decoder and --joiner")
    return kinds[0] if kinds else "exp_dir"


def load_model(args: argparse.Namespace, vocab_size: int, device: torch.device):
    """The streaming model the arguments name (:func:`model_source`), with the runtime
    interface. An eager model is rebuilt from its checkpoint's description, whose features
    settings replace ``--sample-rate``/``--feature-dim`` unless given (then they must agree);
    ``--nn-model`` is loaded with ``torch.jit.load``, which runs the file's code: only for
    models from a trusted source."""
    source = model_source(args)
    if source == "onnx":
        model = OnnxTransducer(args.encoder, args.decoder, args.joiner, streaming=True,
                               num_threads=args.num_threads)
    elif source == "exp_dir":
        info, config = decoding_model_info(args)
        use_checkpoint_features(args, info.features, config.feature_dim,
                                 set(args.given_options), info.path)
        model = load_decoding_model(args, device, (info, config))
    else:
        model = load_model_file(args, vocab_size, device)
    if not model_streams(model):
        named = {"onnx": args.encoder, "jit": args.nn_model, "checkpoint": args.checkpoint,
                 "exp_dir": args.exp_dir}[source]
        raise ValueError(f"the server needs a streaming model: {named} is not one (a causal "
                         "model with a positive --chunk-size and --left-context-frames, or a "
                         "streaming export)")
    if model.decoder.vocab_size != vocab_size:
        raise ValueError(f"the model has {model.decoder.vocab_size} tokens, the lang dir's "
                         f"bpe.model {vocab_size}: files of different models?")
    return model


def build_engine(args: argparse.Namespace) -> Engine:
    device = torch.device("cpu")
    codec = BpeCodec(args.lang_dir)
    model = load_model(args, codec.vocab_size, device)
    config = config_from_args(DecodingConfig, args, allow_missing=False)
    LG = words = None
    lg_path = Path(args.lang_dir) / "LG.pt"
    if lg_path.is_file():
        LG = k2.Fsa.from_dict(load_weights_only(lg_path, "decoding graph"))  # runs no code
        words = read_word_table(args.lang_dir)
    else:
        logger.info("no %s: fast_beam_search_LG is not offered", lg_path)
    endpoint = config_from_args(EndpointConfig, args) if args.endpoint else None
    pieces = [codec.sp.id_to_piece(i) for i in range(codec.vocab_size)]
    return Engine(model, codec.decode, pieces, args.sample_rate, config, endpoint, LG, words,
                  codec.sil, args.feature_dim, args.tail_pad_frames)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The server's options; ``prog`` names the command in ``--help`` (default: the console
    script's name)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    group = parser.add_argument_group("network")
    group.add_argument("--host", default="127.0.0.1")
    group.add_argument("--port", type=int, default=6006, help="0: any free port (logged)")
    add_dataclass_arguments(group, ServerConfig)
    group = parser.add_argument_group("batching")
    group.add_argument("--max-batch-size", type=int, default=50,
                       help="most streams decoded together")
    group.add_argument("--max-wait-ms", type=float, default=10.0,
                       help="how long a ready chunk waits for others to join its batch")
    group.add_argument("--num-threads", type=int, default=1,
                       help="torch / onnxruntime threads of each worker's model work")
    group.add_argument("--num-workers", type=int, default=1,
                       help="worker threads decoding batches in parallel: up to one per free "
                            "core (more than the free cores only splits batches)")
    group = parser.add_argument_group("model")
    group.add_argument("--lang-dir", type=Path, required=True,
                       help="bpe.model (and LG.pt, words.txt for fast_beam_search_LG)")
    group.add_argument("--nn-model", type=Path, default=None,
                       help="a streaming TorchScript model (export.py --jit 1's "
                            "jit_script_chunk_<C>_left_<L>.pt; its chunk and left context)")
    group.add_argument("--checkpoint", type=Path, default=None,
                       help="a self-describing checkpoint (export.py's pretrained.pt); default: "
                            "average --exp-dir's checkpoints")
    group.add_argument("--encoder", type=Path, default=None,
                       help="streaming ONNX encoder (export.py --onnx 1, fp32 or int8)")
    group.add_argument("--decoder", type=Path, default=None, help="ONNX decoder")
    group.add_argument("--joiner", type=Path, default=None, help="ONNX joiner")
    group.add_argument("--sample-rate", type=int, default=16000,
                       help="the features' rate (a checkpoint gives its own)")
    group.add_argument("--feature-dim", type=int, default=80,
                       help="fbank bins of the model (a checkpoint gives its own)")
    group.add_argument("--tail-pad-frames", type=int, default=30,
                       help="log(1e-10) frames appended at the end of each stream")
    add_checkpoint_arguments(parser)
    add_model_arguments(parser, exclude=("feature_dim",))
    group = parser.add_argument_group("decoding (defaults of every stream)")
    add_dataclass_arguments(group, DecodingConfig)
    group.add_argument("--endpoint", type=int, default=1, help="1: cut streams at endpoints")
    add_dataclass_arguments(group, EndpointConfig)
    parser.set_defaults(**STREAMING_DEFAULTS)
    return parser


async def serve_forever(args: argparse.Namespace, stop: asyncio.Event | None = None,
                        listening: Callable[[int, Batcher], None] | None = None) -> None:
    """Serve until cancelled (or until ``stop`` is set); ``listening(port, batcher)`` is called
    once the socket is bound (``--port 0`` picks a free port)."""
    engine = build_engine(args)
    server_config = config_from_args(ServerConfig, args)
    if server_config.default_method not in engine.methods:
        raise ValueError(f"--default-method {server_config.default_method} is not offered; "
                         f"choose from {engine.methods}")
    batcher = Batcher(engine, args.max_batch_size, args.max_wait_ms, args.num_threads,
                      args.num_workers)
    batcher.start()
    handler = RecognitionServer(batcher, server_config)
    try:
        async with serve(handler.handle, args.host, args.port, max_size=2**22) as server:
            port = server.sockets[0].getsockname()[1]
            logger.info("listening on ws://%s:%d (methods: %s; chunk %d, batch <= %d, wait %g ms, "
                        "%d workers)", args.host, port, ", ".join(engine.methods), engine.chunk,
                        args.max_batch_size, args.max_wait_ms, args.num_workers)
            if listening is not None:
                listening(port, batcher)
            if stop is None:
                await server.serve_forever()
            else:
                await stop.wait()
    finally:
        batcher.stop()


def parse_server_args(argv: Sequence[str] | None = None,
                      prog: str | None = None) -> argparse.Namespace:
    """The command line, with ``given_options`` (model flags given are checked against the
    checkpoint)."""
    return parse_args(build_parser(prog), argv)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> None:
    args = parse_server_args(argv, prog)
    setup_logging()
    if args.default_method not in SERVER_METHODS:
        raise SystemExit(f"--default-method must be one of {SERVER_METHODS}")
    torch.set_num_threads(args.num_threads)
    try:
        asyncio.run(serve_forever(args, listening=lambda port, _: print(
            f"LISTENING {args.host} {port}", flush=True)))
    except KeyboardInterrupt:
        logger.info("stopped")


if __name__ == "__main__":
    main()
