"""The original's choice of training segments per stage and its repetition of a small dataset within an epoch."""

from __future__ import annotations

import pytest
import torch

from timbre.errors import TimbreError
from timbre.train.data import GPTItem, SoVITSItem
from timbre.train.selection import ORIGINAL, Selection, epoch_repeats, select_gpt, select_sovits


def _sovits(seconds: float) -> SoVITSItem:
    frames = int(seconds * 50)
    return SoVITSItem(torch.zeros(768, frames), torch.zeros(1025, frames), torch.zeros(int(seconds * 32000)),
                      torch.ones(10, dtype=torch.long))  # fmt: skip


def _gpt(seconds: float, phones: int) -> GPTItem:
    return GPTItem(torch.ones(phones, dtype=torch.long), torch.zeros(1024, phones),
                   torch.zeros(int(seconds * 25), dtype=torch.long))  # fmt: skip


@pytest.mark.parametrize(
    "count, repeats",
    [(1, 100), (3, 33), (20, 5), (34, 2), (50, 2), (51, 2), (99, 2), (100, 1), (250, 1), (0, 1)],
)
def test_a_small_dataset_is_repeated_as_the_original_does(count: int, repeats: int) -> None:
    assert epoch_repeats(count, 100) == repeats
    assert epoch_repeats(count, 0) == 1  # the tiny configuration: every segment once


def test_sovits_keeps_0_6_to_54_seconds_and_warns_about_the_rest() -> None:
    items = [_sovits(0.5), _sovits(3.0), _sovits(60.0), _sovits(8.0)]
    with pytest.warns(UserWarning, match=r"SoVITS leaves out 2 of 4 segments.*a: 0.5 s long.*c: 60.0 s long"):
        kept = select_sovits(["a", "b", "c", "d"], items, ORIGINAL)
    assert len(kept) == 2 * 50 and kept[0] is items[1] and kept[1] is items[3]  # 2 segments: 50 times each


def test_gpt_leaves_out_what_the_original_leaves_out() -> None:
    items = [
        _gpt(4.0, 40),  # 10 phones/s: kept
        _gpt(60.0, 600),  # longer than 54 s
        _gpt(4.0, 4),  # 1 phone/s: a transcript that does not match
        _gpt(2.0, 60),  # 30 phones/s
        _gpt(50.0, 560),  # more than 540 phones
    ]
    names = ["ok", "long", "slow", "fast", "wordy"]
    with pytest.warns(UserWarning) as record:
        kept = select_gpt(names, items, ORIGINAL)
    message = str(record[0].message)
    assert "GPT leaves out 4 of 5 segments" in message
    assert "long: 60.0 s long" in message and "wordy: 560 phones" in message
    assert "slow: 1.0 phones per second, outside 3-25: does the transcript match the audio?" in message
    assert "fast: 30.0 phones per second" in message
    assert kept == [items[0]] * 100


def test_nothing_usable_is_a_clear_error() -> None:
    with pytest.raises(TimbreError, match="no segment is usable for GPT training: a: 1.0 phones per second"):
        select_gpt(["a"], [_gpt(4.0, 4)], ORIGINAL)


def test_the_tiny_configuration_selects_everything_once() -> None:
    items = [_sovits(0.5), _sovits(60.0)]
    assert select_sovits(["a", "b"], items, Selection()) == items


def test_only_the_process_that_warns_says_what_was_left_out(recwarn: pytest.WarningsRecorder) -> None:
    kept = select_sovits(
        ["a", "b"], [_sovits(0.5), _sovits(3.0)], ORIGINAL, warn=False
    )  # a torchrun rank > 0
    assert len(kept) == 100 and not recwarn.list
