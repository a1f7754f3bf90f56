"""The unified social credit code check (GB 32100-2015) the award intake applies to scheme CN-USCC."""
from __future__ import annotations

from engine.supervision.intake import uscc_check, uscc_region, valid_uscc

# Codes published on the national enterprise credit information system (companies' public registrations).
PUBLISHED = ("914403001922038216",   # 华为技术有限公司, Shenzhen
             "91330100716105852F",   # 阿里巴巴（中国）有限公司, Hangzhou
             "9144030071526726XG")   # 深圳市腾讯计算机系统有限公司, Shenzhen


def test_published_codes_pass_and_any_other_check_character_fails():
    for code in PUBLISHED:
        assert valid_uscc(code), code
        for wrong in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if wrong != code[17]:
                assert not valid_uscc(code[:17] + wrong), (code, wrong)
    assert uscc_region("914403001922038216") == "440300"


def test_shapes_that_are_not_codes():
    for bad in ("", "91440300192203821", "9144030019220382166", "914403001922038I16", "91440300192203821 ",
                "91330100716105852f", "ＡＢ4403001922038216", None, 914403001922038216):
        assert not valid_uscc(bad), bad
    assert uscc_check("91440300192203821") == "6"
