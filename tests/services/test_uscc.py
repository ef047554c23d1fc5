"""Unified Social Credit Code: normalising, the three kinds of problem, and the check character's
power to catch typing mistakes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.uscc import ALPHABET, licence_problem, normalize_licence, uscc_check_character

# The worked example of GB 32100-2015, quoted by many validators.
STANDARD_EXAMPLE = "91350100M000100Y43"
# Codes of registered organisations, as printed on their licences and in public registers
# (Tencent's is on its published business-licence record). Their check characters were not
# computed here, so they test the algorithm against the outside world.
REAL_CODES = [
    STANDARD_EXAMPLE,
    "91440300708461136T",  # 深圳市腾讯计算机系统有限公司
    "914403001922038216",  # 华为技术有限公司 (check character is a digit)
    "91330100716105852F",  # 阿里巴巴(中国)有限公司
    "91110108558521630L",  # 北京小米科技有限责任公司
    "91110108551385082Q",
    "1134082855783407XL",  # a government body (category 1), X inside the organisation code
    "51610700305332460K",  # a social organisation (category 5)
]

FORBIDDEN_LETTERS = "IOSVZ"
valid_codes = st.lists(st.sampled_from(ALPHABET), min_size=17, max_size=17).map(
    lambda chars: "".join(chars) + uscc_check_character("".join(chars))
)


def test_alphabet_is_the_standard_one() -> None:
    assert len(ALPHABET) == 31
    assert not set(FORBIDDEN_LETTERS) & set(ALPHABET)
    assert set(ALPHABET) | set(FORBIDDEN_LETTERS) == set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert licence_problem(code) is None
    assert uscc_check_character(code[:17]) == code[17]


def test_standard_example_check_character() -> None:
    assert uscc_check_character("91350100M000100Y4") == "3"


def test_check_character_can_be_zero() -> None:
    # (-Σ) mod 31 == 0 must give "0", not "31" or an IndexError.
    assert uscc_check_character("0" * 17) == "0"
    assert licence_problem("0" * 18) is None


@pytest.mark.parametrize(
    "text",
    [
        "９１４４０３００７０８４６１１３６Ｔ",  # full-width digits and letter
        "９１４４０３００７０８４６１１３６ｔ",  # full-width lower case
        "91440300708461136t",
        "  91440300708461136T\n",
        "9144 0300 7084 6113 6T",
        "914403-00708461136-T",
        "914403－00708461136－T",  # full-width hyphen
        "914403—00708461136—T",  # em dash from a Chinese input method
        "9144\u30000300708461136T",  # ideographic space
        "9144\u00a00300708461136T",  # no-break space
        "\t91440300708461136T\r\n",
    ],
)
def test_normalising_accepts_how_people_type_it(text: str) -> None:
    assert normalize_licence(text) == "91440300708461136T"
    assert licence_problem(text) is None


def test_normalize_does_not_validate() -> None:
    assert normalize_licence("abc") == "ABC"
    assert normalize_licence("") == ""


@pytest.mark.parametrize(
    "text",
    ["", " ", "-", "9144030070846113", "91440300708461136", "91440300708461136TT", "914403007084611361234"],
)
def test_wrong_length(text: str) -> None:
    assert licence_problem(text) == "length"


@pytest.mark.parametrize("letter", list(FORBIDDEN_LETTERS))
def test_letters_left_out_of_the_alphabet_are_characters_problems(letter: str) -> None:
    code = STANDARD_EXAMPLE[:8] + letter + STANDARD_EXAMPLE[9:]
    assert licence_problem(code) == "characters"
    assert licence_problem(code.lower()) == "characters"


@pytest.mark.parametrize(
    "text",
    [
        "91350100М000100Y43",  # Cyrillic Em, looks like M
        "91350100M000100Υ43",  # Greek Upsilon, looks like Y
        "91350100M000100Y4!",
        "91350100M000100Y4_",
        "9135010公司000100Y43",
        "91350100M000100Y4.",
    ],
)
def test_characters_outside_the_alphabet(text: str) -> None:
    assert licence_problem(text) == "characters"


def test_compatibility_characters_are_what_nfkc_makes_them() -> None:
    # NFKC maps a superscript three and a full-width zero to "3" and "0": this is the standard
    # example, typed oddly, and it is valid. A Cyrillic look-alike has no such mapping (above).
    assert licence_problem("9135010０M000100Y4³") is None


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE accounts;--",
        "1' OR '1'='1' -- 0000000",
        "{{ 7*7 }}{{ 7*7 }}{{7*7}}",
        "${7*7}${7*7}${7*7}${7*7}",
        "<script>alert(1)</script>",
        "ＳＥＬＥＣＴ＊ＦＲＯＭ ｘｘ ＷＨＥＲＥ１",
        "\x00" * 18,
        "营业执照统一社会信用代码九一三五零一零零",
        "🙂" * 18,
    ],
)
def test_junk_is_refused_without_error(text: str) -> None:
    assert licence_problem(text) in {"length", "characters"}


def test_every_single_substitution_is_caught_exhaustively() -> None:
    # Not sampled: every position, every other character of the alphabet, for several codes.
    for code in REAL_CODES:
        for pos, replacement in itertools.product(range(18), ALPHABET):
            if replacement == code[pos]:
                continue
            changed = code[:pos] + replacement + code[pos + 1 :]
            assert licence_problem(changed) == "check_character", changed


def test_every_adjacent_transposition_is_caught_exhaustively() -> None:
    # Including swapping the check character with the 17th: the last weight is 28, not 1, so
    # even that swap is detected.
    for code in REAL_CODES:
        for pos in range(17):
            if code[pos] == code[pos + 1]:
                continue
            swapped = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
            assert licence_problem(swapped) == "check_character", swapped


def test_non_adjacent_swaps_missed_only_first_with_last() -> None:
    # What the checksum does NOT promise. The weights 3⁰ … 3¹⁶ are distinct mod 31 (3 has order
    # 30), so swapping any two of the first 17 is caught; but the check character acts as if it
    # had weight 1, the same as the first character, so swapping the first and the last
    # characters is never caught. Assert exactly that, so a wrong claim in the docs would show.
    for code in REAL_CODES:
        missed = set()
        for a, b in itertools.combinations(range(18), 2):
            if code[a] == code[b]:
                continue
            swapped = list(code)
            swapped[a], swapped[b] = swapped[b], swapped[a]
            if licence_problem("".join(swapped)) is None:
                missed.add((a, b))
        assert missed == {(0, 17)}, code


@given(valid_codes, st.integers(0, 17), st.sampled_from(ALPHABET + FORBIDDEN_LETTERS))
def test_any_single_substitution_is_caught(code: str, pos: int, replacement: str) -> None:
    changed = code[:pos] + replacement + code[pos + 1 :]
    if replacement == code[pos]:
        assert licence_problem(changed) is None
    elif replacement in FORBIDDEN_LETTERS:
        assert licence_problem(changed) == "characters"
    else:
        assert licence_problem(changed) == "check_character"


@given(valid_codes, st.integers(0, 16))
def test_any_adjacent_transposition_is_caught(code: str, pos: int) -> None:
    swapped = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
    assert licence_problem(swapped) == (None if code[pos] == code[pos + 1] else "check_character")


@given(valid_codes)
def test_generated_codes_survive_lower_case_and_spacing(code: str) -> None:
    spaced = " ".join(code[i : i + 4] for i in range(0, 18, 4)).lower()
    assert normalize_licence(spaced) == code
    assert licence_problem(spaced) is None


@given(st.text(max_size=40))
def test_never_raises_on_arbitrary_text(text: str) -> None:
    assert licence_problem(text) in {None, "length", "characters", "check_character"}


@pytest.mark.parametrize(
    "bad", ["", "91350100M000100Y", "91350100M000100Y43", "91350100M0001O0Y4", "9135010om000100y4"]
)
def test_check_character_rejects_what_is_not_a_prefix(bad: str) -> None:
    with pytest.raises(ValueError):
        uscc_check_character(bad)


def test_the_refusal_names_the_problem_and_the_normalised_code() -> None:
    from services.results import Rule
    from services.uscc import licence_violation

    assert licence_violation("91350100M000100Y43") is None
    violation = licence_violation(" 91350100-m000100y44 ")
    assert violation is not None and violation.rule is Rule.LICENCE_INVALID
    assert dict(violation.params) == {"licence": "91350100M000100Y44", "problem": "check_character"}
