"""Broken inputs of the lang tools: malformed ARPA files, words.txt with a duplicated id or word,
empty lexicons, non-UTF-8 lines, unusable outputs. Each is an error naming the file (and line)
with exit status 1; none aborts the process (kaldilm's own reaction: SIGABRT, status 134).

The inputs are written by hand here; the expected lines and counts are read off them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lang_helpers import load_cli

from icefall_lite.lang.arpa import check_arpa
from icefall_lite.lang.cli import run_tool
from icefall_lite.lang.grammar import _kaldilm_arpa2fst, arpa_to_g
from icefall_lite.lang.lang_dir import build_lg, prepare_lang
from icefall_lite.lang.lexicon import read_pronunciation_dict
from icefall_lite.lang.ngram import read_sentences

REPO = Path(__file__).resolve().parents[2]
WORDS = "<eps> 0\n<s> 1\n</s> 2\na 3\nb 4\n#0 5\n"
# Line numbers: 2 \data\, 3-4 counts, 6 \1-grams:, 7-10 unigrams, 12 \2-grams:, 13-14, 16 \end\.
GOOD_ARPA = (
    "\n\\data\\\nngram 1=4\nngram 2=2\n\n\\1-grams:\n-1.0\t<s>\t-0.5\n-0.5\t</s>\n"
    "-0.7\ta\t-0.3\n-0.9\tb\n\n\\2-grams:\n-0.2\t<s> a\n-0.3\ta b\n\n\\end\\\n"
)
BROKEN_ARPA = {
    # name: (text, line the error names or None for the whole file, problem)
    "backoff on the highest order": (GOOD_ARPA.replace("-0.3\ta b", "-0.3\ta b\t-0.1"), 14,
                                     "no back-off weight at the highest order"),
    "too few fields": (GOOD_ARPA.replace("-0.3\ta b", "-0.3\ta"), 14, "with 2 fields"),
    "infinite probability": (GOOD_ARPA.replace("-0.9\tb", "-inf\tb"), 10,
                             "'-inf' is not a finite number"),
    "word as probability": (GOOD_ARPA.replace("-0.9\tb", "x\tb"), 10, "'x' is not a finite"),
    "probability above 1": (GOOD_ARPA.replace("-0.9\tb", "0.9\tb"), 10, "> 0"),
    "count not matching its section": (GOOD_ARPA.replace("ngram 1=4", "ngram 1=5"), 12,
                                       "has 4 entries, the \\data\\ header declares 5"),
    "order gap": (GOOD_ARPA.replace("ngram 2=2", "ngram 3=2"), 4, "expected the count of order 2"),
    "sections out of order": (GOOD_ARPA.replace("\\2-grams:", "\\3-grams:"), 12,
                              "expected the \\2-grams: section"),
    "no <s>": (GOOD_ARPA.replace("\t<s>\t", "\tc\t").replace("<s> a", "c a"), None,
               "no <s> among the unigrams"),
    "no \\end\\": (GOOD_ARPA.replace("\\end\\", ""), None, "no \\end\\ line"),
    "no \\data\\": (GOOD_ARPA.replace("\\data\\", ""), None, "no \\data\\ line"),
    "non-UTF-8 word": (GOOD_ARPA.replace("-0.9\tb", "-0.9\tb\udcff"), 10, "not valid UTF-8"),
}


def _write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return path


def _run_tool(tool: str, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "lang" / f"{tool}.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", sorted(BROKEN_ARPA))
def test_malformed_arpa_is_an_error_naming_file_and_line(tmp_path, case):
    text, line, problem = BROKEN_ARPA[case]
    arpa = _write(tmp_path / "lm.arpa", text)
    where = f"{arpa}:{line}: " if line is not None else f"{arpa}: "
    with pytest.raises(ValueError) as error:
        check_arpa(arpa)
    assert str(error.value).startswith(where) and problem in str(error.value)


@pytest.mark.parametrize("case", ["backoff on the highest order", "infinite probability",
                                  "no <s>"])
def test_arpa_to_g_exits_1_where_kaldilm_would_abort(tmp_path, case):
    text, line, problem = BROKEN_ARPA[case]
    arpa = _write(tmp_path / "lm.arpa", text)
    words = _write(tmp_path / "words.txt", WORDS)
    result = _run_tool("arpa_to_g", "--arpa", arpa, "--words", words, "--out", tmp_path / "G")
    assert result.returncode == 1, result.stderr
    assert problem in result.stderr and str(arpa) in result.stderr
    assert not (tmp_path / "G").exists()


def test_kaldilm_failure_in_its_child_process_is_an_error_not_an_abort(tmp_path):
    # Past the checks (called directly), kaldilm aborts its child; this process goes on.
    arpa = _write(tmp_path / "lm.arpa", BROKEN_ARPA["backoff on the highest order"][0])
    words = _write(tmp_path / "words.txt", WORDS)
    with pytest.raises(ValueError, match=r"kaldilm could not convert .*lm\.arpa .*\(signal 6\)"
                                         r".*Invalid n-gram data line"):
        _kaldilm_arpa2fst(arpa, words, "#0", tmp_path / "G.txt")


@pytest.mark.parametrize(("table", "line", "problem"), [
    ("<eps> 0\n<s> 1\n</s> 2\na 3\nb 3\n#0 5\n", 5, "duplicate id 3 ('b'; line 4 gave it to 'a')"),
    ("<eps> 0\n<s> 1\n</s> 2\na 3\nb 4\na 3\n#0 5\n", 6, "duplicate symbol 'a' (already id 3)"),
    ("<eps> 0\n<s> 1\n</s> 2\na 3\nb 4\na 6\n#0 5\n", 6, "duplicate symbol 'a' (already id 3)"),
    ("<eps> 0\n<s> 1\n</s> 2\na -3\n#0 5\n", 4, "the id -3 of 'a' is negative"),
])
def test_words_txt_with_a_duplicate_is_an_error_naming_the_line(tmp_path, table, line, problem):
    arpa = _write(tmp_path / "lm.arpa", GOOD_ARPA)
    words = _write(tmp_path / "words.txt", table)
    result = _run_tool("arpa_to_g", "--arpa", arpa, "--words", words, "--out", tmp_path / "G")
    assert result.returncode == 1
    assert f"{words}:{line}: {problem}" in result.stderr
    assert not (tmp_path / "G").exists()


def test_words_txt_without_eps_at_0_or_sharing_no_word_with_the_arpa_is_an_error(tmp_path):
    arpa = _write(tmp_path / "lm.arpa", GOOD_ARPA)
    words = _write(tmp_path / "words.txt", "a 0\n<s> 1\n</s> 2\nb 4\n#0 5\n")
    with pytest.raises(ValueError, match="id 0 must be <eps>"):
        arpa_to_g(arpa, words)
    _write(words, "<eps> 0\n<s> 1\n</s> 2\nx 3\ny 4\n#0 5\n")
    with pytest.raises(ValueError, match=r"none of the 2 words of .*lm\.arpa is in .*words\.txt"):
        arpa_to_g(arpa, words)


def test_good_inputs_give_g_with_the_arpa_weights(tmp_path):
    arpa = _write(tmp_path / "lm.arpa", GOOD_ARPA)
    words = _write(tmp_path / "words.txt", WORDS)
    g = arpa_to_g(arpa, words, tmp_path / "G.txt")
    assert (tmp_path / "G.txt").read_text() == g
    assert check_arpa(arpa).counts == [4, 2]
    # Text before \data\ is allowed by the format (toolkits put comments there).
    assert check_arpa(_write(tmp_path / "c.arpa", "made by hand\n" + GOOD_ARPA)).order == 2
    # The bigram "a b" (log10 -0.3) is an arc labelled b (id 4) of cost 0.3 ln 10.
    costs = [float(f[4]) for f in (line.split() for line in g.splitlines())
             if len(f) == 5 and f[2] == "4"]
    assert any(abs(c - 0.3 * 2.302585093) < 1e-4 for c in costs)


def test_output_that_is_a_directory_is_an_error(tmp_path):
    arpa = _write(tmp_path / "lm.arpa", GOOD_ARPA)
    words = _write(tmp_path / "words.txt", WORDS)
    (tmp_path / "G").mkdir()
    result = _run_tool("arpa_to_g", "--arpa", arpa, "--words", words, "--out", tmp_path / "G")
    assert result.returncode == 1
    assert f"output {tmp_path / 'G'} is a directory" in result.stderr


def test_empty_lexicon_is_an_error_and_writes_no_lang_dir(tmp_path, capfd):
    transcript = _write(tmp_path / "transcript.txt", "A B\n")
    lexicon = _write(tmp_path / "lexicon.dic", "\n;;; only a comment\n")
    lang = tmp_path / "lang"
    with pytest.raises(SystemExit) as exit_:  # the tool in this process (it imports torch)
        run_tool(lambda: load_cli("prepare_lang").main(
            ["--lang-dir", str(lang), "--transcript", str(transcript), "--lexicon", str(lexicon)]))
    assert exit_.value.code == 1
    assert f"pronunciation dictionary {lexicon} has no entries" in capfd.readouterr().err
    assert not (lang / "words.txt").exists()
    with pytest.raises(ValueError, match=r"lexicon .*lexicon_disambig\.txt has no entries"):
        (lang / "tokens.txt").write_text("<eps> 0\n#0 1\n")
        (lang / "words.txt").write_text(WORDS)
        (lang / "lexicon_disambig.txt").write_text("")
        build_lg(lang, _write(tmp_path / "G.txt", "0\n"))


def test_transcript_of_only_special_symbols_gives_no_words(tmp_path):
    transcript = _write(tmp_path / "transcript.txt", "<unk> !SIL\n")
    lexicon = _write(tmp_path / "lexicon.dic", "<unk> SPN\n!SIL SIL\n")
    with pytest.raises(ValueError, match="no words for"):
        prepare_lang(tmp_path / "lang", transcript, dictionary=lexicon)


def test_non_utf8_lines_of_lang_inputs_are_named_by_file_and_line(tmp_path):
    text = _write(tmp_path / "text.txt", "A B\nA \udcc3 B\n")
    with pytest.raises(ValueError, match=rf"{text}:2: not valid UTF-8 \(byte 0xc3 at column 3\)"):
        read_sentences(text)
    lexicon = _write(tmp_path / "lexicon.dic", "A AH\nB B\udce9 IY\n")
    with pytest.raises(ValueError, match=rf"{lexicon}:2: not valid UTF-8 \(byte 0xe9"):
        read_pronunciation_dict(lexicon)
    result = _run_tool("make_ngram", "--text", text, "--order", "2", "--out", tmp_path / "lm")
    assert result.returncode == 1 and f"{text}:2: not valid UTF-8" in result.stderr
