"""Form definitions: their validation, conditional logic, steps and answer cleaning."""

import pytest

from leadloop.capture.definitions import DefinitionError, clean_answers, parse_definition


def definition(*fields, steps=None, **settings):
    return parse_definition({"steps": steps or [{"fields": list(fields)}], "settings": settings})


SERVICE = {
    "name": "service",
    "type": "select",
    "options": ["regular", "deep", "office"],
    "required": True,
}
COMPANY = {
    "name": "company",
    "type": "text",
    "required": True,
    "show_if": {"field": "service", "equals": "office"},
}


def test_a_conditional_field_is_asked_only_when_the_earlier_answer_matches():
    form = definition(SERVICE, COMPANY)

    assert clean_answers(form, {"service": "regular", "company": "ignored"}).values == {
        "service": "regular"
    }
    missing = clean_answers(form, {"service": "office"})
    assert missing.errors == [{"field": "company", "message": "This field is required."}]


@pytest.mark.parametrize(
    ("condition", "answer", "shown"),
    [
        ({"field": "service", "in": ["deep", "office"]}, "deep", True),
        ({"field": "service", "in": ["deep", "office"]}, "regular", False),
        ({"field": "service", "not_equals": "regular"}, "regular", False),
        ({"field": "service", "not_equals": "regular"}, "office", True),
        ({"field": "service", "filled": True}, "deep", True),
    ],
)
def test_conditions_in_not_equals_and_filled(condition, answer, shown):
    form = definition(SERVICE, {"name": "size", "type": "number", "show_if": condition})

    values = clean_answers(form, {"service": answer, "size": "120"}).values
    assert ("size" in values) is shown


def test_a_condition_must_look_back_at_an_earlier_field():
    with pytest.raises(DefinitionError, match="must come earlier"):
        definition(
            {"name": "size", "type": "number", "show_if": {"field": "service", "equals": "x"}},
            SERVICE,
        )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"name": "Bad Name", "type": "text"}, "lower-case"),
        ({"name": "kind", "type": "select"}, "needs options"),
        ({"name": "kind", "type": "slider"}, "type"),
        ({"name": "code", "type": "text", "pattern": "("}, "pattern"),
    ],
)
def test_broken_definitions_are_refused_with_a_reason(spec, problem):
    with pytest.raises(DefinitionError, match=problem):
        definition(spec)


def test_duplicate_field_names_are_refused():
    with pytest.raises(DefinitionError, match="appears twice"):
        definition({"name": "email", "type": "email"}, {"name": "email", "type": "text"})


def test_fields_are_cleaned_by_type():
    form = definition(
        {"name": "email", "type": "email"},
        {"name": "phone", "type": "phone"},
        {"name": "rooms", "type": "number", "min": 1, "max": 20},
        {"name": "extras", "type": "checkbox", "options": ["oven", "windows"]},
        {"name": "pets", "type": "checkbox"},
        {"name": "variant", "type": "hidden", "default": "spring"},
        {"name": "notes", "type": "textarea"},
        default_region="GB",
    )

    result = clean_answers(
        form,
        {
            "email": " Ada@Example.COM ",
            "phone": "020 7946 0958",
            "rooms": "4",
            "extras": ["oven"],
            "pets": "on",
            "notes": "line one\nline two\x07",
        },
    )

    assert result.errors == []
    assert result.values == {
        "email": "Ada@example.com",
        "phone": "+442079460958",
        "rooms": "4",
        "extras": ["oven"],
        "pets": True,
        "variant": "spring",
        "notes": "line one\nline two",
    }


@pytest.mark.parametrize(
    ("spec", "answer", "message"),
    [
        ({"name": "email", "type": "email"}, "ada@", "valid email"),
        ({"name": "phone", "type": "phone"}, "555", "phone number"),
        ({"name": "rooms", "type": "number", "max": 20}, "21", "20 or less"),
        ({"name": "rooms", "type": "number"}, "lots", "Enter a number"),
        ({"name": "rooms", "type": "number"}, "NaN", "Enter a number"),
        ({"name": "kind", "type": "radio", "options": ["a", "b"]}, "c", "options given"),
        (
            {
                "name": "zip",
                "type": "text",
                "pattern": "[0-9]{5}",
                "pattern_message": "Five digits.",
            },
            "1234",
            "Five digits.",
        ),
        ({"name": "first_name", "type": "text"}, "x" * 10_000, "at most 150"),
        ({"name": "agree", "type": "consent", "required": True}, "", "tick this box"),
    ],
)
def test_bad_answers_get_a_message_for_their_field(spec, answer, message):
    result = clean_answers(definition(spec), {spec["name"]: answer})

    assert result.errors[0]["field"] == spec["name"]
    assert message in result.errors[0]["message"]


def test_consent_fields_become_consent_records_with_their_wording():
    form = definition({"name": "sms_ok", "type": "consent", "channel": "sms", "label": "Text me."})

    result = clean_answers(form, {"sms_ok": "1"})

    assert [(c.channel, c.granted, c.wording) for c in result.consents] == [
        ("sms", True, "Text me.")
    ]
    assert result.values == {}


def test_a_partial_check_covers_only_the_steps_answered_so_far():
    form = definition(
        steps=[
            {"fields": [{"name": "email", "type": "email", "required": True}]},
            {"fields": [SERVICE]},
        ]
    )

    assert clean_answers(form, {"email": "a@example.com"}, through_step=0).errors == []
    assert clean_answers(form, {"email": "a@example.com"}).errors[0]["field"] == "service"


@pytest.mark.parametrize(
    ("condition", "answer", "shown"),
    [
        ({"field": "rooms", "equals": 5}, "5", True),
        ({"field": "rooms", "equals": "5.0"}, "5", True),
        ({"field": "rooms", "in": [1, 2]}, "2", True),
        ({"field": "rooms", "not_equals": 5}, "5", False),
        ({"field": "rooms", "equals": 5}, "50", False),
    ],
)
def test_a_condition_on_a_number_matches_the_number_typed(condition, answer, shown):
    form = definition(
        {"name": "rooms", "type": "number"}, {"name": "notes", "type": "text", "show_if": condition}
    )

    assert ("notes" in clean_answers(form, {"rooms": answer, "notes": "n"}).values) is shown


def test_a_condition_on_a_yes_no_box_matches_true():
    form = definition(
        {"name": "pets", "type": "checkbox"},
        {"name": "pet_kind", "type": "text", "show_if": {"field": "pets", "equals": True}},
    )

    assert "pet_kind" in clean_answers(form, {"pets": "on", "pet_kind": "cat"}).values
    assert "pet_kind" not in clean_answers(form, {"pet_kind": "cat"}).values
