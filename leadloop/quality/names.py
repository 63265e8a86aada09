"""Names nobody is called: keyboard mash, test data, digits."""

import re

from leadloop.quality.reasons import INVALID, SUSPECT, Findings

TEST_WORDS = {
    "test", "testing", "tester", "asdf", "qwerty", "fake", "dummy", "sample", "example",
    "foo", "bar", "foobar", "xxx", "none", "null", "nobody", "noname", "blah", "demo",
    "admin", "user",
}  # fmt: skip
TEST_NAMES = {
    "john doe", "jane doe", "first last", "firstname lastname", "mickey mouse", "donald duck",
    "john smith test", "your name", "name surname", "fake name", "test name",
}  # fmt: skip
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890")
# Five keys in a row inside a word, or a whole word of four: "Siewert" holds "wert".
KEYBOARD_RUN = 5
SHORT_RUN = 4
VOWELS = set("aeiouy")
REPEATED = re.compile(r"(.)\1{3,}|(..)\2{2,}")  # "aaaa", "jkjkjk"


def check_names(first_name: str, last_name: str, email: str = "") -> Findings:
    found = Findings()
    full = " ".join(f"{first_name} {last_name}".lower().split())
    words = [w for w in re.split(r"[\s\-'.]+", full) if w]
    local = email.rpartition("@")[0].lower()
    if full in TEST_NAMES or (words and all(w in TEST_WORDS for w in words)) or local in TEST_WORDS:
        found.add("test_data", INVALID, "Looks like test data, not a person.")
        return found
    if any(char.isdigit() for char in full):
        found.add("name_digits", SUSPECT, "A name with digits in it.")
    elif any(_is_mash(w) for w in words):
        found.add("name_mash", SUSPECT, "The name looks like keyboard mash.")
    return found


def _is_mash(word: str) -> bool:
    if REPEATED.search(word):
        return True
    if not word.isascii() or not word.isalpha():
        return False  # other scripts and apostrophes are not judged by Latin vowels
    if len(word) >= 5 and not VOWELS & set(word):
        return True
    return any(_has_run(word, row) for row in KEYBOARD_ROWS)


def _has_run(word: str, row: str) -> bool:
    if len(word) == SHORT_RUN:
        return word in row
    return any(word[i : i + KEYBOARD_RUN] in row for i in range(len(word) - KEYBOARD_RUN + 1))
