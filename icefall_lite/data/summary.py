"""The closing summary of ``prepare.sh``: utterances and hours per split, vocabularies, LG size.

Command line::

    python -m icefall_lite.data.summary --manifest-dir data/manifests --prefix an4 \\
        --lang-dirs data/lang_bpe_128 data/lang_phone

Example::

    >>> from icefall_lite.data.summary import fsa_dict_size
    >>> import torch
    >>> fsa_dict_size({"arcs": torch.tensor([[0, 1, 3, 0], [1, 2, -1, 0]], dtype=torch.int32)})
    (3, 2)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lhotse import load_manifest_lazy

from icefall_lite.data.manifests import list_splits, manifest_path
from icefall_lite.training.safe_load import load_weights_only

#: words.txt entries that are not words of the corpus.
_NON_WORDS = ("<eps>", "<s>", "</s>", "<unk>", "!SIL", "<SIL>")


def split_sizes(manifest_dir: str | Path, prefix: str) -> dict[str, tuple[int, float]]:
    """split → (utterances, hours), from the supervision manifests."""
    sizes = {}
    for split in list_splits(manifest_dir, prefix, "supervisions"):
        sups = list(load_manifest_lazy(manifest_path(manifest_dir, prefix, "supervisions", split)))
        sizes[split] = (len(sups), sum(s.duration for s in sups) / 3600)
    return sizes


def _symbols(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def fsa_dict_size(fsa: dict[str, Any]) -> tuple[int, int]:
    """(states, arcs) of an FSA saved by ``Fsa.as_dict()`` (arcs rows: src, dst, label, score)."""
    arcs = torch.as_tensor(fsa["arcs"])
    if arcs.numel() == 0:
        return 0, 0
    return int(arcs[:, :2].max()) + 1, int(arcs.shape[0])


def lang_dir_sizes(lang_dir: str | Path) -> dict[str, int]:
    """Tokens (without disambiguation symbols), words and LG states/arcs, where present."""
    lang_dir = Path(lang_dir)
    sizes: dict[str, int] = {}
    if (lang_dir / "tokens.txt").is_file():
        sizes["tokens"] = sum(
            not t.startswith("#") for t in _symbols(lang_dir / "tokens.txt")
        )
    if (lang_dir / "words.txt").is_file():
        sizes["words"] = sum(
            not (w.startswith("#") or w in _NON_WORDS) for w in _symbols(lang_dir / "words.txt")
        )
    if (lang_dir / "LG.pt").is_file():
        lg = load_weights_only(lang_dir / "LG.pt", "decoding graph")
        sizes["LG states"], sizes["LG arcs"] = fsa_dict_size(lg)
    return sizes


def format_summary(manifest_dir: str | Path, prefix: str, lang_dirs: Sequence[str | Path]) -> str:
    lines = [f"== {prefix}: data summary", f"{'split':<20} {'utterances':>10} {'hours':>8}"]
    for split, (count, hours) in split_sizes(manifest_dir, prefix).items():
        lines.append(f"{split:<20} {count:>10} {hours:>8.3f}")
    for lang_dir in lang_dirs:
        sizes = lang_dir_sizes(lang_dir)
        described = ", ".join(f"{k} {v}" for k, v in sizes.items()) or "nothing built yet"
        lines.append(f"{Path(lang_dir).name}: {described}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest-dir", type=Path, required=True)
    parser.add_argument("--prefix", required=True, help="corpus name, e.g. an4")
    parser.add_argument("--lang-dirs", nargs="*", type=Path, default=[])
    args = parser.parse_args(argv)
    # The summary is this command's output, not a log message.
    print(format_summary(args.manifest_dir, args.prefix, args.lang_dirs))


if __name__ == "__main__":
    main()
