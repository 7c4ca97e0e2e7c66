"""Resuming a lhotse sampler behind a prefetching DataLoader continues after the last consumed
batch (the oracle: the batches of one uninterrupted pass).

lhotse is imported inside the tests: the k2 environment, which collects this file, has no lhotse.
"""

from __future__ import annotations

import copy
import warnings

import torch

from icefall_lite.training.sampler_state import sampler_state_for_consumed


class _CutIds(torch.utils.data.Dataset):
    def __getitem__(self, cuts):
        return [c.id for c in cuts]


def _loader(state=None, num_workers=2):
    from lhotse import CutSet
    from lhotse.dataset import DynamicBucketingSampler
    from lhotse.testing.dummies import dummy_cut

    cuts = CutSet.from_cuts(dummy_cut(i, duration=1.0 + (i % 5) * 0.3) for i in range(60))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "eagerly read CutSet": irrelevant for 60 cuts
        sampler = DynamicBucketingSampler(cuts, max_duration=5.0, num_buckets=2, shuffle=True,
                                          seed=3)
    if state is not None:
        sampler.load_state_dict(copy.deepcopy(state))
    sampler.set_epoch(1)
    return torch.utils.data.DataLoader(_CutIds(), sampler=sampler, batch_size=None,
                                       num_workers=num_workers)


def test_rewound_state_resumes_right_after_the_consumed_batches():
    full = list(_loader(num_workers=0))
    loader = _loader()
    batches = iter(loader)
    consumed = [next(batches) for _ in range(5)]
    assert consumed == full[:5]
    raw = loader.sampler.state_dict()
    del batches

    # The workers made the sampler run ahead: restoring its raw state would skip batches.
    skipped = list(_loader(raw, num_workers=0))
    assert len(skipped) < len(full) - 5

    resumed = list(_loader(sampler_state_for_consumed(raw, 5), num_workers=0))
    assert resumed == full[5:]


def test_states_of_other_samplers_are_left_alone():
    state = {"epoch": 2, "position": 7}
    assert sampler_state_for_consumed(state, 3) is state
    assert sampler_state_for_consumed(None, 3) is None
