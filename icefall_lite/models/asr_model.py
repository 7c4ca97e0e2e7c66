"""The Zipformer transducer: front end + Zipformer2 encoder + stateless decoder + joiner, trained
with the pruned RNN-T loss (smoothed simple loss -> prune ranges -> pruned joiner -> pruned loss).

Example::

    >>> import torch
    >>> from icefall_lite.models.config import tiny_config
    >>> model = build_model(tiny_config(vocab_size=20))
    >>> x, x_lens = torch.randn(2, 60, 80), torch.tensor([60, 50])
    >>> simple_loss, pruned_loss = model(x, x_lens, [[1, 2, 3], [4, 5]], prune_range=3,
    ...                                  lm_scale=0.25)
    >>> simple_loss.shape, pruned_loss.shape
    (torch.Size([]), torch.Size([]))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from icefall_lite import k2
from icefall_lite.models.config import ZipformerConfig
from icefall_lite.models.decoder import Decoder
from icefall_lite.models.encoder_model import EncoderModel, StreamingEncoderModel
from icefall_lite.models.joiner import Joiner
from icefall_lite.models.scaling import scaled_linear
from icefall_lite.models.subsampling import Conv2dSubsampling
from icefall_lite.models.zipformer import CPU, Zipformer2

__all__ = ["AsrModel", "build_model", "pad_token_ids"]


def _token_lists(y) -> list[list[int]]:
    """A list of token-id lists from a list of lists or a k2-style RaggedTensor (``.tolist()``)."""
    if hasattr(y, "tolist") and not isinstance(y, list):
        y = y.tolist()
    if not isinstance(y, (list, tuple)) or any(not isinstance(row, (list, tuple)) for row in y):
        raise ValueError("AsrModel: y must be a list of token-id lists or a 2-axis RaggedTensor")
    return [[int(t) for t in row] for row in y]


def pad_token_ids(
    y: Sequence[Sequence[int]], padding_value: int, device: torch.device, prepend: int = -1
) -> Tensor:
    """(N, U_max) int64 tensor of the rows of y (each optionally prefixed by ``prepend`` >= 0)."""
    rows = [([prepend] if prepend >= 0 else []) + list(row) for row in y]
    max_len = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), max_len), padding_value, dtype=torch.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return out.to(device)


class AsrModel(nn.Module):
    """Transducer with simple (additive) projections for the pruned RNN-T loss.

    Args:
      encoder_embed: (N, T, F), (N,) -> (N, T', d0), (N,).
      encoder: :class:`Zipformer2` working on (T, N, C).
      decoder: :class:`Decoder`. joiner: :class:`Joiner`.
      encoder_dim: encoder output dim. decoder_dim: decoder dim. vocab_size: V.
      use_ctc: add the CTC head ``ctc_output``; :meth:`forward` then also returns the CTC loss.
      ctc_blank_bias: added to the initial bias of the CTC head's blank output (initialisation
        only; a checkpoint's weights replace it).

    Attribute ``ctc_skip_token`` (default None): a token id left out of the CTC loss's targets
    (the recipes set it to a BPE lang dir's ``<sil>`` piece: the pause between words is the
    transducer's token; for CTC, blank already covers it).
    """

    def __init__(
        self,
        encoder_embed: Conv2dSubsampling,
        encoder: Zipformer2,
        decoder: Decoder,
        joiner: Joiner,
        encoder_dim: int,
        decoder_dim: int,
        vocab_size: int,
        use_ctc: bool = False,
        ctc_blank_bias: float = 0.0,
    ):
        super().__init__()
        self.encoder_embed = encoder_embed
        self.encoder = encoder
        self.decoder = decoder
        self.joiner = joiner
        self.simple_am_proj = scaled_linear(encoder_dim, vocab_size, initial_scale=0.25)
        self.simple_lm_proj = scaled_linear(decoder_dim, vocab_size, initial_scale=0.25)
        # icefall's optional CTC head: Dropout -> Linear -> LogSoftmax on the encoder output.
        self.ctc_output = (
            nn.Sequential(nn.Dropout(p=0.1), nn.Linear(encoder_dim, vocab_size),
                          nn.LogSoftmax(dim=-1))
            if use_ctc else None
        )
        self.ctc_skip_token: int | None = None
        if self.ctc_output is not None and ctc_blank_bias:
            with torch.no_grad():
                self.ctc_output[1].bias[decoder.blank_id] += ctc_blank_bias

    def forward_encoder(self, x: Tensor, x_lens: Tensor) -> tuple[Tensor, Tensor]:
        """x: (N, T, F) fbank; x_lens: (N,) -> encoder_out (N, T2, D), encoder_out_lens (N,)
        with T2 = ((T - 7) // 2 + 1) // 2."""
        if x.dim() != 3 or x_lens.dim() != 1 or x.size(0) != x_lens.size(0):
            raise ValueError(
                f"AsrModel: expected x (N, T, F) and x_lens (N,), got {tuple(x.shape)} and "
                f"{tuple(x_lens.shape)}"
            )
        return EncoderModel(self.encoder_embed, self.encoder)(x, x_lens)

    def forward(
        self,
        x: Tensor,
        x_lens: Tensor,
        y,
        prune_range: int = 5,
        am_scale: float = 0.0,
        lm_scale: float = 0.0,
        delay_penalty: float = 0.0,
    ) -> tuple[Tensor, ...]:
        """Returns (simple_loss, pruned_loss), or (simple_loss, pruned_loss, ctc_loss) for a model
        with a CTC head, each summed over the batch, computed in fp32.

        Args:
          x: (N, T, F) fbank. x_lens: (N,).
          y: N token-id lists (without blank), or a k2 RaggedTensor with 2 axes.
          prune_range: s_range of the pruned loss. am_scale, lm_scale: am-only and lm-only
            smoothing scales of the simple loss (icefall's recipe uses lm_scale=0.25).
          delay_penalty: k2's delay penalty of both losses (> 0 favours earlier symbols;
            icefall uses 0.025 for streaming models).
        """
        tokens = _token_lists(y)
        if len(tokens) != x.size(0):
            raise ValueError(f"AsrModel: {len(tokens)} transcripts for a batch of {x.size(0)}")
        encoder_out, encoder_out_lens = self.forward_encoder(x, x_lens)
        device = x.device
        blank_id = self.decoder.blank_id
        y_lens = torch.tensor([len(t) for t in tokens], dtype=torch.int64, device=device)
        sos_y_padded = pad_token_ids(tokens, blank_id, device, prepend=blank_id)
        y_padded = pad_token_ids(tokens, 0, device)
        decoder_out = self.decoder(sos_y_padded)

        boundary = torch.zeros(x.size(0), 4, dtype=torch.int64, device=device)
        boundary[:, 2] = y_lens
        boundary[:, 3] = encoder_out_lens

        lm = self.simple_lm_proj(decoder_out)
        am = self.simple_am_proj(encoder_out)
        with torch.autocast(device_type=device.type, enabled=False):
            simple_loss, (px_grad, py_grad) = k2.rnnt_loss_smoothed(
                lm=lm.float(),
                am=am.float(),
                symbols=y_padded,
                termination_symbol=blank_id,
                lm_only_scale=lm_scale,
                am_only_scale=am_scale,
                boundary=boundary,
                reduction="sum",
                delay_penalty=delay_penalty,
                return_grad=True,
            )
        ranges = k2.get_rnnt_prune_ranges(
            px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=prune_range
        )
        am_pruned, lm_pruned = k2.do_rnnt_pruning(
            am=self.joiner.encoder_proj(encoder_out),
            lm=self.joiner.decoder_proj(decoder_out),
            ranges=ranges,
        )
        logits = self.joiner(am_pruned, lm_pruned, project_input=False)
        with torch.autocast(device_type=device.type, enabled=False):
            pruned_loss = k2.rnnt_loss_pruned(
                logits=logits.float(),
                symbols=y_padded,
                ranges=ranges,
                termination_symbol=blank_id,
                boundary=boundary,
                delay_penalty=delay_penalty,
                reduction="sum",
            )
        if self.ctc_output is None:
            return simple_loss, pruned_loss
        ctc_tokens = tokens if self.ctc_skip_token is None else [
            [t for t in row if t != self.ctc_skip_token] for row in tokens]
        return simple_loss, pruned_loss, self.ctc_loss(encoder_out, encoder_out_lens, ctc_tokens)

    def ctc_loss(self, encoder_out: Tensor, encoder_out_lens: Tensor,
                 tokens: list[list[int]]) -> Tensor:
        """CTC loss of the CTC head (blank = the decoder's blank), summed over the batch, fp32.

        An utterance too short for its transcript (fewer frames than tokens plus repeats) gives
        an infinite loss, which the training loop reports and skips, as for the RNN-T losses.
        """
        if self.ctc_output is None:
            raise RuntimeError("AsrModel.ctc_loss: the model has no CTC head (use_ctc=False)")
        log_probs = self.ctc_output(encoder_out)
        targets = torch.tensor([t for row in tokens for t in row], dtype=torch.int64)
        target_lens = torch.tensor([len(row) for row in tokens], dtype=torch.int64)
        with torch.autocast(device_type=encoder_out.device.type, enabled=False):
            return nn.functional.ctc_loss(
                log_probs.float().transpose(0, 1), targets, encoder_out_lens.cpu(), target_lens,
                blank=self.decoder.blank_id, reduction="sum",
            )

    def get_init_states(
        self, batch_size: int = 1, device: torch.device = CPU
    ) -> list[Tensor]:
        """Streaming states: the encoder's 6 per layer, then ``cached_embed_left_pad``
        (N, C3, 3, F') with C3 = ``embed_layer3_channels`` and ``processed_lens`` (N,)."""
        return StreamingEncoderModel(self.encoder_embed, self.encoder).get_init_states(
            batch_size, device
        )

    def streaming_forward_encoder(
        self, x: Tensor, x_lens: Tensor, states: list[Tensor]
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """One chunk: x (N, 2*chunk + 13, F) fbank (chunk = ``encoder.chunk_size[0]``), x_lens
        (N,), states from :meth:`get_init_states` or the previous call. Returns encoder_out
        (N, chunk / 2, D), its lengths and the new states."""
        return StreamingEncoderModel(self.encoder_embed, self.encoder)(x, x_lens, states)


def build_model(config: ZipformerConfig) -> AsrModel:
    """Construct an :class:`AsrModel` from a :class:`ZipformerConfig`."""
    encoder_embed = Conv2dSubsampling(config.feature_dim, config.encoder_dim[0],
                                      layer3_channels=config.embed_layer3_channels,
                                      dropout=config.dropout)
    encoder = Zipformer2(
        downsampling_factor=config.downsampling_factor,
        encoder_dim=config.encoder_dim,
        num_encoder_layers=config.num_encoder_layers,
        encoder_unmasked_dim=config.encoder_unmasked_dim,
        num_heads=config.num_heads,
        feedforward_dim=config.feedforward_dim,
        cnn_module_kernel=config.cnn_module_kernel,
        query_head_dim=config.query_head_dim,
        pos_head_dim=config.pos_head_dim,
        value_head_dim=config.value_head_dim,
        pos_dim=config.pos_dim,
        dropout=config.dropout,
        causal=config.causal,
        chunk_size=config.chunk_size,
        left_context_frames=config.left_context_frames,
    )
    decoder = Decoder(config.vocab_size, config.decoder_dim, config.blank_id, config.context_size)
    joiner = Joiner(encoder.output_dim, config.decoder_dim, config.joiner_dim, config.vocab_size)
    return AsrModel(encoder_embed, encoder, decoder, joiner, encoder.output_dim,
                    config.decoder_dim, config.vocab_size, use_ctc=config.use_ctc,
                    ctc_blank_bias=config.ctc_blank_bias)
