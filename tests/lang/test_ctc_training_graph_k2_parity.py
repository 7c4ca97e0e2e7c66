"""CtcTrainingGraphCompiler with real k2 1.23.4 (icefall's operations) and with the built-in
backend: the same training graphs, compared by their CTC losses and the gradients w.r.t. the
log-probs (the graphs' state order may differ) on a hand-written L with optional silence."""

from __future__ import annotations

import pytest
import torch

from icefall_lite.lang.ctc_training_graph import CtcTrainingGraphCompiler
from icefall_lite.lang.symbol_table import SymbolTable

pytestmark = pytest.mark.k2

# tokens: 0 blank/<eps>, 1 SIL, 2 N, 3 Y; words: NO 1, YES 2. State 0 start, 1 the loop state,
# 2 the state before an optional SIL, 3 final; scores log(0.5) per silence choice.
L_TEXT = """0 1 0 0 -0.6931472
0 2 0 0 -0.6931472
1 1 2 1 -0.6931472
1 2 2 1 -0.6931472
1 1 3 2 -0.6931472
1 2 3 2 -0.6931472
1 3 -1 -1 0
2 1 1 0 0
3"""
WORDS = SymbolTable.from_str("<eps> 0\nNO 1\nYES 2\n<unk> 3")


def test_training_graph_losses_and_gradients_match_k2(on_both):
    texts = ["YES NO NO", "NO", "YES YES"]
    torch.manual_seed(0)
    log_probs = torch.randn(3, 20, 4).log_softmax(-1)
    segments = torch.tensor([[0, 0, 20], [1, 0, 17], [2, 0, 12]], dtype=torch.int32)

    def check(k2):
        compiler = CtcTrainingGraphCompiler(k2.Fsa.from_str(L_TEXT, acceptor=False), WORDS, 3)
        graphs = compiler.compile(texts)
        x = log_probs.clone().requires_grad_(True)
        loss = k2.ctc_loss(graphs, k2.DenseFsaVec(x, segments), output_beam=1000,
                           reduction="none")
        loss.sum().backward()
        return [loss.detach(), x.grad]

    on_both(check, rtol=1e-4, atol=1e-4)
