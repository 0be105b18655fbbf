"""English g2p: dictionary precedence, lookup chain, homographs, possessives, compounds, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from timbre.text.en import g2p, normalize
from timbre.text.en.lexicon import lexicon, names


def phones(text: str) -> list[str]:
    return g2p(normalize(text))[0]


def test_lexicon_merge_order() -> None:
    words = lexicon()
    assert words["json"] == ("JH", "EY1", "S", "AH0", "N")  # hot word, not in the CMU files
    assert words["st"] == ("S", "T", "R", "IY1", "T")  # only in cmudict-fast.rep
    assert words["dr"] == ("D", "R", "AY1", "V")
    assert words["a"] == ("AH0",)
    for removed in ("ae", "ai", "ar", "ios", "hud", "os"):
        assert removed not in words
    assert names()["kavya"] == ("K", "AA1", "V", "Y", "AH0")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", ["EY1"]),  # capital A alone
        ("a cat", ["AH0", "K", "AE1", "T"]),
        ("AI", ["EY1", "AY1"]),  # removed acronym, spelled ("A I" after normalization)
        ("ai", ["EY1", "AY1"]),  # three letters or fewer, unknown: spelled, "a" read EY1
        ("xyz", ["EH1", "K", "S", "W", "AY1", "Z", "IY1"]),
        ("json", ["JH", "EY1", "S", "AH0", "N"]),
        ("Kavya", ["K", "AA1", "V", "Y", "AH0"]),  # title case: names dictionary
        ("kavya", ["K", "AA1", "V", "IY0", "AH0"]),  # lower case: predicted
        ("please read", ["P", "L", "IY1", "Z", "R", "EH1", "D"]),  # every token tagged NN offline
        ("the fox's den", ["DH", "AH0", "F", "AA1", "K", "S", "AH0", "Z", "D", "EH1", "N"]),
        (
            "fifty-five-twelve",
            ["F", "IH1", "F", "T", "IY0", "F", "AY1", "V", "T", "W", "EH1", "L", "V"],
        ),  # compound
        ("'", ["-"]),  # apostrophe token
        ("Mr. Brown", ["M", "IH1", "S", "T", "ER0", ".", "B", "R", "AW1", "N"]),
    ],
)
def test_g2p_words(text: str, expected: list[str]) -> None:
    assert phones(text) == expected


def test_possessive_endings() -> None:
    from timbre.text.en.phonemes import _possessive

    assert _possessive(["K", "AE1", "T"]) == ["K", "AE1", "T", "S"]
    assert _possessive(["F", "AA1", "K", "S"]) == ["F", "AA1", "K", "S", "AH0", "Z"]
    assert _possessive(["D", "AO1", "G"]) == ["D", "AO1", "G", "Z"]
    assert _possessive(["B", "IY1"]) == ["B", "IY1", "Z"]


def test_g2p_returns_no_word2ph() -> None:
    assert g2p("hello")[1] is None


def test_import_is_lazy() -> None:
    code = (
        "import sys, timbre.text.en, timbre.text.cleaner; "
        "print(sorted(m for m in ('g2p_en', 'nltk', 'inflect', 'wordsegment') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_homographs_follow_the_pos_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    from timbre.text import _nltk_shim

    assert phones("complex") == ["K", "AA1", "M", "P", "L", "EH0", "K", "S"]  # NN: the noun reading
    tags = {"read": "VBP", "complex": "JJ", "record": "VB"}
    monkeypatch.setattr(_nltk_shim, "pos_tag", lambda tokens: [(t, tags.get(t, "NN")) for t in tokens])
    assert phones("read") == ["R", "IY1", "D"]
    assert phones("complex") == ["K", "AH0", "M", "P", "L", "EH1", "K", "S"]
    assert phones("record") == ["R", "IH0", "K", "AO1", "R", "D"]


def test_offline_tagger_marks_every_token_nn() -> None:
    from timbre.text import _nltk_shim

    if _nltk_shim.has_pos_tagger():
        pytest.skip("nltk's perceptron tagger data is installed here")
    assert _nltk_shim.pos_tag(["I", "read", "it"]) == [("I", "NN"), ("read", "NN"), ("it", "NN")]
