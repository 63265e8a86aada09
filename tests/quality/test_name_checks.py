"""Names nobody is called (test data, keyboard mash, digits), and the real names from around the
world that must pass untouched."""

import pytest

from leadloop.core.types import LeadIntake
from leadloop.quality.names import check_names
from leadloop.quality.reasons import verdict_of
from leadloop.quality.services import assess_one

# (first name, last name, email, reason code or "" for none)
NAME_TABLE = [
    # Test data: invalid.
    ("test", "test", "", "test_data"),
    ("Test", "", "", "test_data"),
    ("TEST", "TESTING", "", "test_data"),
    ("asdf", "", "", "test_data"),
    ("Asdf", "Asdf", "", "test_data"),
    ("John", "Doe", "", "test_data"),
    ("jane", "doe", "", "test_data"),
    ("  John ", "  Doe ", "", "test_data"),
    ("foo", "bar", "", "test_data"),
    ("Mickey", "Mouse", "", "test_data"),
    ("First", "Last", "", "test_data"),
    ("Your", "Name", "", "test_data"),
    ("Fake", "Dummy", "", "test_data"),
    ("Test", "", "test@acme.com", "test_data"),
    ("Jane", "Smith", "test@acme.com", "test_data"),
    ("Jane", "Smith", "asdf@gmail.com", "test_data"),
    ("xxx", "xxx", "", "test_data"),
    ("null", "", "", "test_data"),
    # Keyboard mash: suspect.
    ("asdfgh", "", "", "name_mash"),
    ("Asdfgh", "Jkl", "", "name_mash"),
    ("qwertz", "", "", "name_mash"),
    ("Qwertyuiop", "Smith", "", "name_mash"),
    ("sdfg", "", "", "name_mash"),
    ("Ann", "Sdfg", "", "name_mash"),
    ("Mia", "Dfghj", "", "name_mash"),
    ("zxcvb", "", "", "name_mash"),
    ("jkjkjk", "", "", "name_mash"),
    ("Lalala", "", "", "name_mash"),
    ("aaaa", "", "", "name_mash"),
    ("Bob", "Bbbbbb", "", "name_mash"),
    ("xkcdqz", "", "", "name_mash"),
    ("Hjkl", "", "", "name_mash"),
    ("Kjhgf", "Trsdp", "", "name_mash"),
    ("Fake", "Name", "", "test_data"),
    ("Admin", "Admin", "", "test_data"),
    ("Demo", "Demo", "", "test_data"),
    ("Demo", "User", "", "test_data"),
    # Digits: suspect.
    ("123", "", "", "name_digits"),
    ("Anna", "12345", "", "name_digits"),
    ("0", "0", "", "name_digits"),
    ("John123", "Smith", "", "name_digits"),
    ("Ada", "L0velace", "", "name_digits"),
    # Real names: nothing to say.
    ("Thi", "Nguyen", "", ""),
    ("Hans", "Hirschsprung", "", ""),
    ("Anke", "Siewert", "", ""),  # "wert" is a keyboard run, inside a real name
    ("Jan", "Ewert", "", ""),
    ("Lynn", "Wynn", "", ""),
    ("Zoë", "O'Brien", "", ""),
    ("Grzegorz", "Brzęczyszczykiewicz", "", ""),
    ("Krzysztof", "Szczepański", "", ""),
    ("Tomasz", "Wrzesniewski", "", ""),
    ("李", "", "", ""),
    ("小明", "王", "", ""),
    ("José María", "García", "", ""),
    ("María José", "Ng", "", ""),
    ("Ng", "", "", ""),
    ("Xi", "", "", ""),
    ("Bảo", "Dương", "", ""),
    ("Jennifer", "Nguyễn", "", ""),
    ("Rhodri", "Llwyd", "", ""),
    ("Glyn", "Flynn", "", ""),
    ("Pryce", "Rhys", "", ""),
    ("Crwys", "", "", ""),
    ("Kyle", "Tyrwhitt", "", ""),
    ("Sven", "Schwarz", "", ""),
    ("Nnamdi", "Okonkwo", "", ""),
    ("Sthembile", "Mthembu", "", ""),
    ("Tjhin", "Tshabalala", "", ""),
    ("Søren", "Kierkegaard", "", ""),
    ("Björk", "Guðmundsdóttir", "", ""),
    ("Ayşe", "Yılmaz", "", ""),  # noqa: RUF001 (a Turkish dotless i)
    ("Jean-Luc", "Picard", "", ""),
    ("Mary-Kate", "O'Neill-Smith", "", ""),
    ("Ó", "Sé", "", ""),
    ("Ty", "Ty", "", ""),
    ("Kiki", "Kiki", "", ""),
    ("Asdrubal", "Reyes", "", ""),  # starts like "asdf", but a real name
    ("Werther", "", "", ""),
    ("Christopher", "Null", "", ""),  # a real surname that is also a test word
    ("Wei", "Foo", "", ""),
    ("Bar", "Refaeli", "", ""),
    ("Jane", "Smith", "jane.test@acme.com", ""),
    ("Jane", "Smith", "", ""),
    ("", "", "", ""),
]


@pytest.mark.parametrize(("first", "last", "email", "code"), NAME_TABLE)
def test_name_table(first, last, email, code):
    found = check_names(first, last, email)
    assert [r.code for r in found.reasons] == ([code] if code else [])
    expected = {"test_data": "invalid", "name_mash": "suspect", "name_digits": "suspect"}
    assert verdict_of(found.reasons) == expected.get(code, "valid")


def test_test_data_is_one_reason_not_three():
    found = check_names("asdf", "1234", "test@acme.com")
    assert [r.code for r in found.reasons] == ["test_data"]


@pytest.mark.parametrize(
    ("first", "last", "email", "verdict", "codes"),
    [
        ("Test", "Test", "jane@acme.com", "invalid", ["test_data"]),
        ("Asdfgh", "Jkl", "jane@acme.com", "suspect", ["name_mash"]),
        ("Zoë", "O'Brien", "zoe@acme.com", "valid", []),
        ("Grzegorz", "Brzęczyszczykiewicz", "g.b@acme.pl", "valid", []),
    ],
)
def test_name_verdicts_on_a_whole_intake(first, last, email, verdict, codes):
    assessment = assess_one(
        LeadIntake(channel="api", first_name=first, last_name=last, email=email)
    )
    assert assessment.quality == verdict
    assert [r["code"] for r in assessment.reasons] == codes
