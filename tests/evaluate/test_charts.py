"""Inline SVG charts and icons for Evaluate (changebank.evaluate.charts)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from changebank.analysis.spc import ASSURANCE_ICONS, VARIATION_ICONS, xmr
from changebank.evaluate.charts import (
    COLOURS,
    assurance_icon_svg,
    spc_chart_svg,
    variation_icon_svg,
)

NS = {"svg": "http://www.w3.org/2000/svg"}
BASE = [12.0, 10.0] * 6


def months(n):
    return [f"M{i + 1:02d}" for i in range(n)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def points(root):
    return root.findall(".//svg:circle[@data-index]", NS)


def test_chart_is_xml_with_title_desc_and_aria():
    df = xmr(BASE + [11.0, 20.0], fix_after_n_points=12)
    svg = spc_chart_svg(df, months(14), title="Waiting time", unit="days")
    root = parse(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    title = root.find("svg:title", NS)
    desc = root.find("svg:desc", NS)
    assert title is not None and title.text == "Waiting time"
    assert desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    text = desc.text
    assert "14 points" in text
    assert "Latest value 20 days (M14)" in text
    assert "Mean 11 days" in text
    assert "process limits 5.68 days to 16.3 days" in text
    assert "1 special-cause points (1 improvement)" in text


def test_one_circle_per_point_and_special_cause_marked():
    df = xmr(BASE + [11.0, 20.0, 1.0], fix_after_n_points=12)
    root = parse(spc_chart_svg(df, months(15), title="t"))
    circles = points(root)
    assert len(circles) == 15
    assert [int(c.get("data-index")) for c in circles] == list(range(15))
    assert len(root.findall(".//svg:circle", NS)) == 15  # no other circles (legend uses paths)
    special = [c for c in circles if "spc-special" in c.get("class")]
    assert [int(c.get("data-index")) for c in special] == [13, 14]
    assert "spc-improvement" in circles[13].get("class")
    assert circles[13].get("fill") == COLOURS["improvement"]
    assert "spc-concern" in circles[14].get("class")
    assert circles[14].get("fill") == COLOURS["concern"]
    assert circles[0].get("fill") == COLOURS["common_cause"]
    # not by colour alone: each special-cause point also gets a shape marker, one per kind
    markers = root.findall(".//svg:g[@class='spc-points']/svg:path", NS)
    kinds = [m.get("class") for m in markers]
    assert kinds == ["spc-marker spc-marker-improvement", "spc-marker spc-marker-concern"]
    # and a tooltip naming the type
    assert "special cause: concern" in circles[14].find("svg:title", NS).text
    assert "outside the process limits" in circles[14].find("svg:title", NS).text


def test_decrease_direction_swaps_the_colours():
    df = xmr(BASE + [20.0], improvement="decrease", fix_after_n_points=12)
    root = parse(spc_chart_svg(df, months(13), title="t", improvement="decrease"))
    assert points(root)[-1].get("fill") == COLOURS["concern"]


def test_malicious_label_title_and_unit_are_escaped():
    evil = '<script>alert("x")</script>'
    labels = months(12) + [evil]
    df = xmr(BASE + [11.0])
    svg = spc_chart_svg(df, labels, title=f"A & B {evil}", unit='"><img src=x>')
    assert "<script>" not in svg
    assert "<img" not in svg
    root = parse(svg)  # still well-formed
    assert not root.findall(".//script")
    assert not root.findall(".//svg:script", NS)
    assert root.find("svg:title", NS).text == f"A & B {evil}"
    assert evil in root.find("svg:desc", NS).text


def test_lines_limits_target_and_go_live():
    y = [20.0, 22.0] * 7 + [10.0, 13.0] * 7
    df = xmr(y, improvement="decrease", rebase_at=[14])
    root = parse(
        spc_chart_svg(
            df, months(28), title="t", target=15, improvement="decrease", go_live_index=14
        )
    )
    lines = root.findall(".//svg:line", NS)
    by_class = {}
    for line in lines:
        by_class.setdefault(line.get("class"), []).append(line)
    assert len(by_class["spc-mean"]) == 2  # one per period
    assert len(by_class["spc-upl"]) == 2 and len(by_class["spc-lpl"]) == 2
    assert all(line.get("stroke-dasharray") for line in by_class["spc-upl"])
    assert len(by_class["spc-target"]) == 1
    (go,) = by_class["spc-go-live"]
    assert go.get("x1") == go.get("x2") == points(root)[14].get("cx")
    # the second period's mean line is lower on the page than (below) the first's
    assert float(by_class["spc-mean"][1].get("y1")) > float(by_class["spc-mean"][0].get("y1"))
    desc = root.find("svg:desc", NS).text
    assert "Target 15." in desc and "hit and miss" in desc
    assert "Go-live at point 15 (M15)" in desc
    assert "(latest period)" in desc


def test_x_labels_are_thinned_to_fit():
    n = 120
    df = xmr([float(i % 7) for i in range(n)])
    root = parse(spc_chart_svg(df, months(n), title="t"))
    shown = [t.text for t in root.findall(".//svg:text[@class='spc-x-label']", NS)]
    assert 2 <= len(shown) <= 12
    assert shown[0] == "M01"
    small = parse(spc_chart_svg(xmr([1.0, 2.0, 3.0]), ["a", "b", "c"], title="t"))
    assert [t.text for t in small.findall(".//svg:text[@class='spc-x-label']", NS)] == [
        "a",
        "b",
        "c",
    ]


def test_y_axis_ticks_cover_the_data():
    df = xmr([100.0, 140.0, 120.0, 130.0])
    root = parse(spc_chart_svg(df, months(4), title="t"))
    ticks = [
        float(t.text.replace(",", ""))
        for t in root.findall(".//svg:g[@class='spc-y-axis']/svg:text", NS)
    ]
    assert len(ticks) >= 3
    assert ticks == sorted(ticks)
    assert ticks[0] <= df["lpl"].min() and ticks[-1] >= df["upl"].max()
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_bad_chart_input():
    df = xmr([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="labels has 2 items but df has 3 points"):
        spc_chart_svg(df, ["a", "b"], title="t")
    with pytest.raises(ValueError, match="go_live_index = 3 is out of range"):
        spc_chart_svg(df, ["a", "b", "c"], title="t", go_live_index=3)
    with pytest.raises(TypeError, match="DataFrame returned by xmr"):
        spc_chart_svg([1, 2, 3], ["a", "b", "c"], title="t")


def test_ids_differ_between_charts():
    a = parse(spc_chart_svg(xmr([1.0, 2.0, 3.0]), ["a", "b", "c"], title="one"))
    b = parse(spc_chart_svg(xmr([1.0, 2.0, 3.0]), ["a", "b", "c"], title="two"))
    assert a.find("svg:title", NS).get("id") != b.find("svg:title", NS).get("id")
    c = parse(spc_chart_svg(xmr([1.0, 2.0, 3.0]), ["a", "b", "c"], title="one", id_prefix="x"))
    assert c.find("svg:title", NS).get("id") == "x-title"


@pytest.mark.parametrize("name", VARIATION_ICONS)
def test_variation_icons(name):
    root = parse(variation_icon_svg(name))
    title = root.find("svg:title", NS).text
    assert root.get("role") == "img"
    assert root.get("aria-label") == title
    if name == "common_cause":
        assert title == "Common cause variation"
    else:
        kind, level = name.split("_")
        assert title == f"Special cause variation: {kind} ({level})"
        letter = root.find("svg:text", NS).text
        assert letter == ("H" if level == "high" else "L")


def test_variation_icon_titles_are_distinct_and_coloured():
    svgs = {name: variation_icon_svg(name) for name in VARIATION_ICONS}
    assert len({parse(s).find("svg:title", NS).text for s in svgs.values()}) == 7
    assert COLOURS["improvement_stroke"] in svgs["improvement_high"]
    assert COLOURS["concern_stroke"] in svgs["concern_low"]
    assert COLOURS["neutral_stroke"] in svgs["neutral_high"]


@pytest.mark.parametrize("name", ASSURANCE_ICONS)
def test_assurance_icons(name):
    root = parse(assurance_icon_svg(name))
    title = root.find("svg:title", NS).text
    assert title.startswith("Assurance:")
    assert {
        "pass": "consistently pass",
        "fail": "consistently fail",
        "hit_and_miss": "hit and miss",
    }[name] in title


def test_bad_icon_names():
    with pytest.raises(ValueError, match="name should be one of"):
        variation_icon_svg("improvement")
    with pytest.raises(ValueError, match="name should be one of"):
        assurance_icon_svg("consistent_pass")


def test_charts_module_does_not_import_django():
    code = (
        "import sys, changebank.evaluate.charts; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
