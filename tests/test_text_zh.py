"""Chinese front end: exact to the original v2 on the public sentences, plus hand-checked rule cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from timbre.text import zh
from timbre.text.symbols import phones_to_ids
from timbre.text.zh.normalize import text_normalize

FIXTURE = Path(__file__).parent / "fixtures" / "compat" / "text_v2_public.jsonl"


def _public_zh() -> list[dict]:
    rows = [json.loads(line) for line in FIXTURE.read_text("utf-8").splitlines() if line.strip()]
    return [row for row in rows if row["lang"] == "zh"]


@pytest.mark.parametrize("row", _public_zh(), ids=lambda row: row["text"][:12])
def test_public_sentences_exact(row: dict) -> None:
    cleaned = zh.clean(row["text"])
    assert cleaned.norm_text == row["norm_text"]
    assert cleaned.phones == row["phones"]
    assert cleaned.word2ph == row["word2ph"]
    assert phones_to_ids(cleaned.phones) == row["phone_ids"]


def test_public_set_has_16_zh_sentences() -> None:
    assert len(_public_zh()) == 16


# Expected outputs below are hand-derived from the original's normalization rules (rule order as in
# the original: dates, times, unit ranges, temperatures, measures, arithmetic, powers, fractions,
# percents, phone numbers, ranges, negatives, versions, decimals, counted amounts, digit runs,
# plain numbers, symbols), then cross-checked against a reconstruction of the original.
NORMALIZE_CASES = [
    # dates: year digit by digit, month/day as cardinals, 号 kept
    ("他出生于1999年10月1号。", "他出生于一九九九年十月一号."),
    ("会议定于2023/09/05举行。", "会议定于二零二三年九月五日举行."),
    # clock times; in a range the original tests the FIRST minute for 半 on both ends
    ("现在是23:05:09。", "现在是二十三点零五分零九秒."),
    ("营业时间8:30-17:45。", "营业时间八点半至十七点半."),
    # unit range (~ → 至) and temperatures (negative → 零下; 摄氏度 is read 度, as the original does)
    ("气温10℃~25℃。", "气温十度至二十五度."),
    ("零下温度-3.5°C，体感5摄氏度。", "零下温度零下三点五度,体感五度."),
    # units of measure
    ("身高180cm，体重75kg，面积20m²。", "身高一百八十厘米,体重七十五千克,面积二十平方米."),
    # arithmetic and powers (letters are dropped later)
    ("1+2=3，8÷2=4。", "一加二等于三,八除二等于四."),
    ("x²加上y³。", "的二次方加上的三次方."),
    # version numbers, fractions, percents (a minus before a percent stays outside)
    ("版本1.2.3发布了。", "版本一点二点三发布了."),
    ("他的成绩是1/3，负数是-2/5。", "他的成绩是三分之一,负数是负五分之二."),
    ("增长了-5.5%。", "增长了负百分之五点五."),
    # phone numbers: digits with 幺; a dash between digits is arithmetic minus first (original quirk)
    ("请拨打+8613912345678。", "请拨打八六幺三九幺二三四五六七八."),
    ("座机010-12345678。", "座机零幺零减幺二三四五六七八."),
    # ranges, negatives, decimals (trailing zero kept as one 零, bare .5 → 零点五)
    ("分数在60~80之间。", "分数在六十到八十之间."),
    ("温差为-8。", "温差为负八."),
    ("3.20和.5都是小数。", "三点二零和零点五都是小数."),
    # counted amounts: 二 → 两 before a measure word, + → 多
    ("我买了2斤苹果和12个橘子，来了10+个人。", "我买了两斤苹果和十二个橘子,来了十多个人."),
    # three or more digits without a measure word: digit by digit, 1 → 幺
    ("快递单号0012345。", "快递单号零零幺二三四五."),
    ("总人口1000000000人。", "总人口十亿人."),
    ("共有10000人。", "共有一万人."),
    # traditional → simplified, full-width → half-width (letters then dropped), circled digits, Greek
    ("這裡的風景很美。", "这里的风景很美."),
    ("ＡＢＣ和１２３。", "和幺二三."),
    ("①α和π。", "一阿尔法和派."),
    # punctuation map, repeated marks collapse, ~ → …, 嗯 → 恩, brackets and quotes dropped
    ("你好吗？我很好！真的吗……是的~", "你好吗?我很好!真的吗…是的…"),
    ("嗯，知道了。", "恩,知道了."),
    ("《红楼梦》【第一回】（上）", "红楼梦第一回上"),
    ("他说：“你好！”", "他说,你好!"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALIZE_CASES)
def test_normalize_rules(text: str, expected: str) -> None:
    assert zh.normalize(text) == expected


# Hand-derived tone sandhi / erhua: 不 before tone 4 → bu2, V不V → bu5; 一 before tone 4 → yi2, before
# other tones → yi4, ordinal 第一 → yi1, V一V → yi5; neutral tone for 喜欢/的/朋友/们; third-tone
# chains → second tone; 儿 after a syllable takes that syllable's tone except for 女儿 (exception list).
G2P_CASES = [
    ("看不懂", "k an4 b u5 d ong3"),
    ("不要不对", "b u2 y ao4 b u2 d ui4"),
    ("一天一定第一看一看", "y i4 t ian1 y i2 d ing4 d i4 y i1 k an4 y i5 k an4"),
    ("一二三", "y i1 EE er4 s an1"),
    ("我喜欢你的朋友们", "w o2 x i3 h uan5 n i3 d e5 p eng2 y ou5 m en5"),
    ("你好展览馆老虎", "n i2 h ao3 zh an2 l an2 g uan3 l ao2 h u3"),
    ("小孩儿在玩儿,女儿在唱歌.", "x iao3 h ai2 EE er2 z ai4 w an2 EE er2 , n v3 EE er2 z ai4 ch ang4 g e1 ."),
    ("这儿", "zh e4 EE er4"),
]


@pytest.mark.parametrize(("norm_text", "phones"), G2P_CASES)
def test_g2p_sandhi_and_erhua(norm_text: str, phones: str) -> None:
    got, word2ph = zh.g2p(norm_text)
    assert " ".join(got) == phones
    assert len(word2ph) == len(norm_text) and sum(word2ph) == len(got)


def test_special_pauses() -> None:
    # "^" becomes a comma before normalization and every comma is then the SP3 pause
    cleaned = zh.clean("你好^世界，再见")
    assert cleaned.norm_text == "你好,世界,再见"
    assert cleaned.phones.count("SP3") == 2 and "," not in cleaned.phones
    # "￥" wins over "^" (the "^" is then just dropped)
    assert zh.clean("价格￥5^元").phones.count("SP2") == 1


def test_errors() -> None:
    with pytest.raises(ValueError, match="empty after normalization"):
        zh.normalize("《》（）")
    with pytest.raises(ValueError, match="empty after normalization"):
        zh.clean("hello")
    with pytest.raises(ValueError, match="nothing to pronounce"):
        zh.clean("……")
    with pytest.raises(ValueError, match="empty"):
        zh.g2p("")
    assert text_normalize("abc") == ""


def test_mixed_normalization_keeps_latin_letters() -> None:
    # hand-derived: 3张 is a counted amount (张 is a measure word); letters survive only with keep_latin
    assert text_normalize("我用iPhone拍了3张照片", keep_latin=True) == "我用iPhone拍了三张照片"
    assert text_normalize("我用iPhone拍了3张照片") == "我用拍了三张照片"


def test_g2pw_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="g2pW"):
        zh.g2p("你好", g2pw_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="g2pW.onnx"):
        zh.g2p("你好", g2pw_dir=tmp_path)


def test_jieba_is_quiet_and_caches_in_temp_dir(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONWARNINGS="default")
    code = "from timbre.text import zh; print(zh.g2p('今天天气很好.')[0][:2])"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['j', 'in1']"
    for noise in ("Building prefix dict", "Loading model", "Prefix dict", "pkg_resources"):
        assert noise not in done.stderr
    assert (tmp_path / "jieba.cache").exists()
