"""Wikitext cleaning: exact outputs per construct, real zhwiki pages, robustness at scale."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tasks.dump.wikitext import is_disambiguation, is_redirect, to_prose

PAGES = Path(__file__).resolve().parent / "fixtures" / "wikitext"

# The lead (all prose before the first heading) of each real page, written by hand from the source as a reader
# sees it rendered: one string per paragraph, references, formulas and hidden markup gone, link labels kept.
LEADS = {
    "QUIC": [
        "QUIC（读作“quick”）是一个通用的传输层网络协议，最初由Google的Jim Roskind设计，2012年实现并部署，"
        "2013年随着实验范围的扩大而公开发布，并向IETF描述。"
        "虽然长期处于互联网草案阶段，但在从Chrome浏览器到Google服务器的所有连接中，超过一半的连接都使用了QUIC。"
        "Microsoft Edge、Firefox和Safari都支持它，但默认情况下没有启用。"
        "其于RFC9000中正式推出标准化版本。",
        "虽然它的名字最初是作为 “快速UDP互联网连接”的首字母缩写提出的，但IETF使用的QUIC一词并不是首字母缩写，"
        "它只是协议的名称。"
        "QUIC提高了目前使用TCP的面向连接的网络应用的性能。"
        "它通过使用用户数据报协议（UDP）在两个端点之间建立若干个多路连接来实现这一目标，"
        "其目的是为了在网络层淘汰TCP，以满足许多应用的需求，因此该协议偶尔也会获得 “TCP/2”的昵称。",
        "QUIC与HTTP/2的多路复用连接协同工作，允许多个数据流独立到达所有端点，因此不受涉及其他数据流的丢包影响。"
        "相反，HTTP/2建立在传输控制协议（TCP）上，如果任何一个TCP数据包延迟或丢失，所有多路数据流都会遭受队头阻塞延迟。",
        "QUIC的次要目标包括降低连接和传输时延，以及每个方向的带宽估计以避免拥塞。"
        "它还将拥塞控制算法移到了两个端点的使用者空間，而不是内核空间，据称这将使这些算法得到更快的改进。"
        "此外，该协议还可以扩展前向纠错（FEC），以进一步提高预期错误时的性能，这被视为协议演进的下一步。",
        "2015年6月，QUIC规范的互联网草案提交给IETF进行标准化。"
        "2016年，成立了QUIC工作组。"
        "2018年10月，IETF的HTTP工作组和QUIC工作组共同决定将QUIC上的HTTP映射称为 "
        '"HTTP/3"，以提前使其成为全球标准。'
        "2021年5月IETF公布RFC9000，QUIC规范推出了标准化版本。",
    ],
    "匹配Z变换方法": [
        "匹配Z变换方法（matched Z-transform method）也稱為極點-零點映射（pole–zero mapping）"
        "或極點－零點匹配法（pole–zero matching method），簡稱MPZ或MZT，"
        "是將連續時間濾波器轉換到離散時間濾波器（数字滤波器）設計的技巧。",
        "其作法是將所有的s平面設計時的極點和零點轉換到z平面的位置，其中取樣週期。因此以下傳遞函數的類比濾波器：",
        "會轉換為以下的數位傳遞函數",
        "其增益需調整，使結果為其理想的增益，一般會和類比濾波器的直流增益匹配，透過設定及，並且求解.。",
        "因為此映射會將s平面的軸反覆的映射到z平面的單位圓上，若零點或是極點超過奈奎斯特頻率，其映射後的位置會有混疊的情形。",
        "一般情形下，類比濾波器的極點會比零點多，在處的零點可以移到奈奎斯特頻率，作法是放在的位置。",
        "此轉換方式可以保持有界輸入有界輸出穩定性以及最小相位，但不會保持時域或是頻域的響應，因此不常使用。"
        "較常使用的方式有雙線性轉換及冲激不变法。"
        "匹配Z变换方法的高頻響應誤差比雙線性轉換要小，因此比較容易透過加入額外的零點來修正其特性，"
        "此方式稱為MZTi（i表示改良版improved）。",
        "在數位控制中，匹配Z变换方法有一個特別的應用，就是艾克曼公式，可以調整可控制性系統的極點，"
        "一般會將不穩定（或接近不穩定）的極點調整到穩定的位置。",
    ],
    "等M圓及等N圓": [
        "等M圓及等N圓（M-circles and N-circles）英文也稱為是Hall circles，"
        "是控制理论中利用開迴路傳遞函數的奈奎斯特圖（或尼柯尔斯图）來求得其閉迴路傳遞函數數值的繪圖工具。"
        "此作法最早是由Albert C. Hall在其控制理論的論文中提出。",
    ],
    "面天樹蛙": [
        "面天樹蛙（学名：Kurixalus idiootocus）为树蛙科原指樹蛙屬的一種，"
        "其主要棲息於台灣中低海拔山區潮濕的灌木叢或草原。"
        "该物种的模式产地在台北地區。",
    ],
    "面容ID": [
        "面容ID（Face ID）是蘋果公司设计和发布的一个臉部识别系统，在iPhone X中首次出现。"
        "此功能于2017年9月12日首次公布，旨在取代Touch ID而非新增一种安全机制。"
        "它允许使用者解锁苹果裝置，在各个苹果数字媒体商店（iTunes商店、应用商店以及iBooks商店）中购买，"
        "以及作为 Apple Pay 或應用程式内支付的身份验证方式。",
        "苹果公司称，非本人解锁手机的概率是百万分之一。"
        "苹果公司也表示，面容识别資訊本機存储于Apple A11 Bionic及次代芯片的安全区域，不会在云端存储。",
    ],
}
MARKUP = ("{{", "}}", "[[", "]]", "<ref", "</ref>", "'''", "==", "-{", "}-", "{|", "|}", "thumb|")
PARAMETER = re.compile(r"\|\s*[\w-]+\s*=")


def _page(title: str) -> str:
    return (PAGES / f"{title}.wikitext").read_text(encoding="utf-8")


@pytest.mark.parametrize("title", sorted(LEADS))
def test_real_page_lead_survives_whole(title: str) -> None:
    lines = to_prose(_page(title))
    first = lines.index(LEADS[title][0])
    assert lines[first : first + len(LEADS[title])] == LEADS[title]


@pytest.mark.parametrize("title", sorted(LEADS))
def test_real_page_has_no_markup_left(title: str) -> None:
    text = "\n".join(to_prose(_page(title)))
    assert [m for m in MARKUP if m in text] == []
    assert PARAMETER.findall(text) == []


def test_real_page_sections_become_heading_lines_and_paragraphs() -> None:
    lines = to_prose(_page("面天樹蛙"))
    assert lines[1:4] == [
        "描述",
        "面天樹蛙是一種小型樹蛙，公蛙體長24至43mm，雌蛙通常比雄蛙略大，體長為 4-5cm。頭部寬闊，有三角形尖嘴。"
        "頭部和身體的兩側有深褐色斑塊和斑點，類似大理石花紋，中央背面通常有一個大而深棕色的沙漏形圖案。"
        "頭部的上側帶有結節，皮膚呈顆粒狀。腳趾上有扁平的圓盤，後肢有較為明顯的蹼。",
        "棲地與分佈",
    ]


@pytest.mark.parametrize(
    ("wikitext", "prose"),
    [
        ("甲{{a|{{b|{{c|d}}}}}}乙", ["甲乙"]),
        ("{{Infobox 城市\n| name = {{lang|en|X}}\n| 人口 = [[A|B]]\n}}\n首句。", ["首句。"]),
        ("甲{{#if:{{{1|}}}|是|否}}乙{{PAGENAME}}丙", ["甲乙丙"]),
        ("学名：{{lang|la|''Kurixalus idiootocus''}}", ["学名：Kurixalus idiootocus"]),
        ("面容ID（{{lang-en|'''Face ID'''}}）", ["面容ID（Face ID）"]),
        ("一个{{le|臉部识别系统|Facial recognition system}}", ["一个臉部识别系统"]),
        ("{{le|連續時間及離散時間|Discrete_time_and_continuous_time|連續時間}}濾波器", ["連續時間濾波器"]),
        ("就是{{link-en|艾克曼公式|Ackermann's formula}}", ["就是艾克曼公式"]),
        ("{{nowrap|1 000}}人", ["1 000人"]),
        (
            "體長{{convert|24|至|43|mm}}，約{{convert|4|-|5|cm}}，高於{{convert|750|m|abbr=on}}",
            ["體長24至43mm，約4-5cm，高於750m"],
        ),
        ("{{convert|2|to|3|km}}", ["2 to 3km"]),
        ("{{各地中文名|tw=面天樹蛙|cn=陆卵跳树蛙}}正文", ["正文"]),
        (
            "即{{tsl|en|Public key|公开密钥}}与{{tsl|en|X|私钥|私密金钥}}，{{tsl|ja|仮名|}}",
            ["即公开密钥与私密金钥，仮名"],
        ),
        ("{{ill|艾克曼公式|en|Ackermann's formula|lt=艾氏公式}}可", ["艾克曼公式可"]),
        ("{{small|小字}}{{nobr|不断}}{{color|red|红字}}{{abbr|UN|联合国}}", ["小字不断红字UN"]),
    ],
)
def test_templates(wikitext: str, prose: list[str]) -> None:
    assert to_prose(wikitext) == prose


@pytest.mark.parametrize(
    ("wikitext", "prose"),
    [
        ('協議<ref name="a">{{cite web|url=http://x|title=T}}</ref>。', ["協議。"]),
        ("協議<ref name=b />和<ref name='c'/>。", ["協議和。"]),
        ("甲<REF>x</REF>乙<ref\n name=d>多行\n引用</ref>丙", ["甲乙丙"]),
        ("甲<!-- 注释 {{x}} -->乙", ["甲乙"]),
        ("甲<!--\n多行\n-->乙", ["甲乙"]),
        ('为<math>G(s)</math>。其中<math display="block">x</math>', ["为。其中"]),
        ("甲<gallery>\nA.jpg|图\n</gallery>乙", ["甲乙"]),
        ("甲<score>\\relative c' { c d }</score>乙", ["甲乙"]),
        ('甲<syntaxhighlight lang="python">print(1)</syntaxhighlight>乙', ["甲乙"]),
        ("甲<source lang=c>int x;</source>乙<pre>code</pre>丙", ["甲乙丙"]),
        ("甲<references />乙", ["甲乙"]),
    ],
)
def test_dropped_elements(wikitext: str, prose: list[str]) -> None:
    assert to_prose(wikitext) == prose


def test_tables_are_dropped_with_nested_tables() -> None:
    wikitext = (
        "前\n{| class=wikitable\n|-\n! 年 !! 事件\n|-\n| 1 || {{x}}\n|-\n|\n{|\n| 内表\n|}\n|}\n"
        ":{|\n|缩进表\n|}\n后"
    )
    assert to_prose(wikitext) == ["前", "后"]


@pytest.mark.parametrize(
    ("wikitext", "prose"),
    [
        ("[[A|B]]、[[A]]、[[A]]s、[[Jim_Roskind|Jim Roskind]]", ["B、A、As、Jim Roskind"]),
        ("[[File:A.jpg|thumb|说明[[B|C]]与[[D]]文字]]正文", ["正文"]),
        ("[[Image:A.png|right]][[文件:B.png|左]][[檔案:C.png]][[图像:D.png|x]]正文", ["正文"]),
        ("正文\n[[Category:控制理论|Category:控制理论]]\n[[分类:算法|M]]\n[[Category:X]]", ["正文"]),
        ("正文[[en:QUIC]][[ja:QUIC]][[zh-yue:QUIC]]", ["正文"]),
        ("见[[:Category:控制理论]]与[[:en:QUIC|英文条目]]", ["见Category:控制理论与英文条目"]),
        (
            "[https://example.org/a?b=1 原型服务器] 与[http://x.org]和[//x.org/y 相对]",
            ["原型服务器 与和相对"],
        ),
        ("见https://example.org/path?q=1。下一句", ["见。下一句"]),
    ],
)
def test_links(wikitext: str, prose: list[str]) -> None:
    assert to_prose(wikitext) == prose


@pytest.mark.parametrize(
    ("wikitext", "prose"),
    [
        ("苹果-{zh-hans:数字;zh-hant:數位;}-媒体", ["苹果数字媒体"]),
        ("-{zh-cn:数字;zh-tw:數位;}-", ["数字"]),
        ("-{zh-tw:數位; zh-hk:數碼; zh:数码;}-", ["数码"]),
        ("-{zh-tw:串流控制傳輸協定; zh-hk:串流;}-", ["串流控制傳輸協定"]),
        ("-{zh-hant:乙;zh-cn:丙;zh-hans:甲}-", ["甲"]),
        ("甲-{H|zh-cn:甲;zh-tw:乙;}-乙", ["甲乙"]),
        ("-{T|zh-cn:标题;zh-tw:標題}-正文", ["正文"]),
        ("-{A|zh-cn:内存;zh-tw:記憶體;}-", ["内存"]),
        ("-{R|zh-hans:原样}-", ["zh-hans:原样"]),
        ("面-{}-天-{}-樹蛙，-{軟體}-", ["面天樹蛙，軟體"]),
        ("[[流控制传输协议|-{zh-tw:串流控制傳輸協定; zh-cn:流控制传输协议;}-]]", ["流控制传输协议"]),
        ("-{H|香港=>zh-cn:香港特区;}-香港", ["香港"]),
        ("年份1990-{{lang|en|X}}", ["年份1990-X"]),
    ],
)
def test_language_conversion(wikitext: str, prose: list[str]) -> None:
    assert to_prose(wikitext) == prose


@pytest.mark.parametrize(
    ("wikitext", "prose"),
    [
        ("'''面天樹蛙'''是''一種''樹蛙，'''''粗斜'''''", ["面天樹蛙是一種樹蛙，粗斜"]),
        ("<small>小</small><span style='color:red'>红</span>H<sub>2</sub>O<sup>[1]</sup>", ["小红H2O[1]"]),
        ('一<br>二<br />三<BR/>四<br clear="all">五', ["一", "二", "三", "四", "五"]),
        ("<h2>标题</h2>正文<time>2020年</time>。", ["标题", "正文2020年。"]),
        ("__NOTOC__正文__TOC__", ["正文"]),
        ("A&nbsp;B &amp; C &lt;D&gt; &#x4E2D;", ["A B & C <D> 中"]),
        ("== 背景 ==\n正文一\n=== 子节 ===\n正文二", ["背景", "正文一", "子节", "正文二"]),
        ("* 一\n** 二\n# 三\n#: 四\n; 术语 : 释义\n: 缩进", ["一", "二", "三", "四", "术语 : 释义", "缩进"]),
        ("第一段。\n\n\n第二段，  多   空格。\n----\n", ["第一段。", "第二段， 多 空格。"]),
        ("「引」『号』（括号）《书名》，、；：？！", ["「引」『号』（括号）《书名》，、；：？！"]),
        ("名字（{{lang-en|}}）与（{{Audio|x.ogg}}）", ["名字与"]),
    ],
)
def test_inline_markup_and_layout(wikitext: str, prose: list[str]) -> None:
    assert to_prose(wikitext) == prose


@pytest.mark.parametrize(
    ("wikitext", "prose"),
    [
        ("甲{{未闭合模板 乙\n\n第二段。", ["甲未闭合模板 乙", "第二段。"]),
        ("甲}}乙]]丙}-丁\n|}\n戊", ["甲乙丙丁", "戊"]),
        ("[[File:A.jpg|right]]说明文字]]\n\n正文。", ["说明文字", "正文。"]),
        ("甲[[未闭合\n\n第二段。[[B]]", ["甲未闭合", "第二段。B"]),
        ("{{a|[[b}}后文", ["后文"]),
        ("甲<ref>未闭合引用\n\n第二段。", ["甲未闭合引用", "第二段。"]),
        ("甲<!-- 未闭合注释\n\n第二段。", ["甲 未闭合注释", "第二段。"]),
        ("{{Infobox\n| a = 1\n正文。", ["Infobox", "正文。"]),
    ],
)
def test_broken_markup_degrades_locally(wikitext: str, prose: list[str]) -> None:
    assert to_prose(wikitext) == prose


def test_many_real_pages_in_one_text() -> None:
    page = "\n\n".join(_page(title) for title in sorted(LEADS))
    lines = to_prose(page * 50)
    assert lines == to_prose(page) * 50
    assert lines.count(LEADS["面天樹蛙"][0]) == 50


# Broken markup at scale: each output is exact, and a scan that rescanned its input per token would not finish
# (cleaning speed itself is measured by `python -m benchmarks.extract`, not asserted here).
N = 50_000


@pytest.mark.parametrize(
    ("text", "prose"),
    [
        ("{{a " * N, [("a " * N).strip()]),
        ("[[a " * N, [("a " * N).strip()]),
        ("}} ]] }- |}\n" * N, []),
        ("{{a [[b -{c " * N, [("a b c " * N).strip()]),
        ("{{a [[b }} ]] " * N, []),
        ("<ref name=x>" * N, []),
        ("<!-- " * N, []),
        ("[http://a" * N, ["[" * N]),
        ("-{zh-hans:" + ";a=>" * N + "}-", [(";a=>" * N)[1:]]),
        ("{|" * N, ["{|" * (N - 1)]),
        ("|}" * N, []),
        (":" * N + "{|\n|甲\n|}\n乙", ["乙"]),
    ],
    ids=[
        "open-templates",
        "open-links",
        "stray-closers",
        "mixed",
        "crossed",
        "refs",
        "comments",
        "ext",
        "rules",
        "table-openers",
        "table-closers",
        "long-indent",
    ],
)
def test_pathological_markup_at_scale(text: str, prose: list[str]) -> None:
    assert to_prose(text) == prose


def test_redirect_and_disambiguation() -> None:
    assert is_redirect("#REDIRECT [[QUIC]]")
    assert is_redirect("#重定向 [[QUIC]]")
    assert is_redirect("  #redirect:[[QUIC]]")
    assert not is_redirect("正文 #REDIRECT [[QUIC]]")
    assert [is_disambiguation(t) for t in ("{{disambig}}", "{{消歧义}}", "{{消歧義|人名}}", "{{Dab}}")] == [
        True,
        True,
        True,
        True,
    ]
    assert not is_disambiguation("{{disambiguation needed}}正文")
    assert not is_disambiguation(_page("QUIC"))
