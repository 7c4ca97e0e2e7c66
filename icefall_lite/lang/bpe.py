"""Sentencepiece models with icefall's special ids: ``<blk>`` = 0, ``<sos/eos>`` = 1, ``<unk>`` = 2.

A model trained with ``sil_piece=True`` also has a ``<sil>`` piece (id 3): a recipe using it
encodes its transcripts with ``<sil>`` between words (:class:`SilInserter`), so the transducer
emits a token at every pause, and drops ``<sil>`` from what it recognises; the lang dir's L
then has an optional ``<sil>`` between words. yesno's ``prepare.sh --sil-piece 1`` offers it:
with a stateless decoder of context 2 the states after ``YES YES`` and ``YES YES YES`` are the
same, and without a token for the pause the model cannot tell a third ``YES`` from the second
(egs/yesno/ASR/RESULTS.md has what it changes, for better and for worse).

Example::

    train_bpe_model("transcript.txt", "lang/bpe.model", vocab_size=100)
    write_bpe_tokens("lang/bpe.model", "lang/tokens.txt")
    lexicon = bpe_lexicon(["HELLO", "WORLD"], "lang/bpe.model")   # [("HELLO", ["▁HE", "LLO"]), ...]
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from icefall_lite.lang.files import require_file
from icefall_lite.lang.lexicon import Lexicon
from icefall_lite.lang.symbol_table import SymbolTable

BLANK = "<blk>"
SOS_EOS = "<sos/eos>"
UNK = "<unk>"
SIL = "<sil>"


def train_bpe_model(
    transcript: str | Path,
    model_path: str | Path,
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    sil_piece: bool = False,
) -> Path:
    """Train a sentencepiece model on ``transcript`` (one sentence per line) into ``model_path``.

    ``<blk>`` and ``<sos/eos>`` are user-defined symbols (ids 0 and 1), ``<unk>`` has id 2, and
    there are no separate bos/eos/pad pieces, as in icefall. ``model_type`` is sentencepiece's
    (``unigram``, icefall's choice, or ``bpe``). ``sil_piece`` adds the user-defined piece
    ``<sil>`` (id 3; see the module doc). Training is deterministic for a given input.
    """
    import sentencepiece as spm  # noqa: PLC0415

    transcript = require_file(transcript, "transcript")
    model_path = Path(model_path)
    specials = [BLANK, SOS_EOS, SIL] if sil_piece else [BLANK, SOS_EOS]
    if vocab_size < len(specials) + 2:
        raise ValueError(f"--vocab-size {vocab_size}: must be at least {len(specials) + 2} "
                         f"({len(specials) + 1} special pieces + 1)")
    model_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "model"
        try:
            spm.SentencePieceTrainer.train(
                input=str(transcript),
                model_prefix=str(prefix),
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=character_coverage,
                input_sentence_size=100_000_000,
                user_defined_symbols=specials,
                unk_id=2,
                bos_id=-1,
                eos_id=-1,
                num_threads=1,
                minloglevel=2,
            )
        except RuntimeError as e:
            raise ValueError(
                f"sentencepiece could not train a {model_type} model of --vocab-size {vocab_size} "
                f"on {transcript}: {e}"
            ) from e
        shutil.copyfile(f"{prefix}.model", model_path)
    logging.info(f"wrote {model_path} ({model_type}, vocab size {vocab_size})")
    return model_path


def load_bpe_model(model_path: str | Path):
    """Load a sentencepiece model, with a clear error when the file is missing."""
    import sentencepiece as spm  # noqa: PLC0415

    model_path = require_file(model_path, "sentencepiece model (bpe.model)")
    sp = spm.SentencePieceProcessor()
    sp.load(str(model_path))
    return sp


def bpe_token_table(model_path: str | Path) -> SymbolTable:
    """The pieces of a model as a table, id = sentencepiece id (``<blk>`` 0, ... )."""
    sp = load_bpe_model(model_path)
    return SymbolTable.from_symbols(sp.id_to_piece(i) for i in range(sp.get_piece_size()))


def write_bpe_tokens(model_path: str | Path, tokens_path: str | Path) -> SymbolTable:
    """Write ``tokens.txt`` (``piece id``) for a sentencepiece model and return the table."""
    table = bpe_token_table(model_path)
    table.to_file(tokens_path)
    return table


def bpe_lexicon(words: Iterable[str], model_path: str | Path) -> Lexicon:
    """Spell each word by its sentencepiece pieces; ``<unk>`` is spelled by the ``<unk>`` piece."""
    sp = load_bpe_model(model_path)
    lexicon: Lexicon = []
    for word in words:
        if word == UNK:
            lexicon.append((word, [UNK]))
            continue
        pieces = [sp.id_to_piece(i) for i in sp.encode(word)]
        if not pieces:
            raise ValueError(f"word {word!r} has no sentencepiece encoding in {model_path}")
        lexicon.append((word, pieces))
    return lexicon


def sil_id(sp) -> int | None:
    """The id of the ``<sil>`` piece of a sentencepiece processor, or None if it has none."""
    i = sp.piece_to_id(SIL)
    return i if sp.id_to_piece(i) == SIL else None


class SilInserter:
    """Puts the ``<sil>`` id ``sil`` between the words of ``sp.encode`` output: before every piece
    that starts a word (``▁...``) except the first. The table of word-starting pieces is built
    once, not on every batch."""

    def __init__(self, sp, sil: int) -> None:
        self.sil = sil
        self.starts_word = [sp.id_to_piece(i).startswith("\u2581")
                            for i in range(sp.get_piece_size())]

    def __call__(self, encoded: list[list[int]]) -> list[list[int]]:
        out = []
        for ids in encoded:
            with_sil: list[int] = []
            for i in ids:
                if with_sil and self.starts_word[i]:
                    with_sil.append(self.sil)
                with_sil.append(i)
            out.append(with_sil)
        return out
