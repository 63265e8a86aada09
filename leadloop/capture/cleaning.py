"""Cleaning one typed value: the same rules for forms, the API and CSV import."""

import re
import unicodedata
from decimal import Decimal, InvalidOperation

import phonenumbers
from email_validator import EmailNotValidError, validate_email

# Control characters other than newline and tab never belong in something a person typed.
CONTROL_CHARACTERS = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)
NAME_MAX_LENGTH = 150


class InvalidValue(ValueError):
    """A value a person can correct; the message is shown next to the field."""


def clean_text(value: object, *, max_length: int = 500, multiline: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise InvalidValue("Enter text.")
    text = unicodedata.normalize("NFC", str(value))
    text = CONTROL_CHARACTERS.sub("", text)
    if not multiline:
        text = " ".join(text.split())
    text = text.strip()
    if len(text) > max_length:
        raise InvalidValue(f"Use at most {max_length} characters (this has {len(text)}).")
    return text


def clean_email(value: object) -> str:
    text = clean_text(value, max_length=254)
    if not text:
        return ""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidValue(f"Enter a valid email address: {error}") from None


def clean_phone(value: object, default_region: str = "US") -> str:
    text = clean_text(value, max_length=40)
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, default_region or None)
    except phonenumbers.NumberParseException:
        raise InvalidValue(
            "Enter a valid phone number, with the country code if it is abroad."
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidValue("This phone number is not valid: check the digits and country code.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_number(value: object, minimum: float | None = None, maximum: float | None = None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise InvalidValue("Enter a number.")
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation:
        raise InvalidValue("Enter a number.") from None
    if not number.is_finite():
        raise InvalidValue("Enter a number.")
    if minimum is not None and number < Decimal(str(minimum)):
        raise InvalidValue(f"Enter {minimum:g} or more.")
    if maximum is not None and number > Decimal(str(maximum)):
        raise InvalidValue(f"Enter {maximum:g} or less.")
    return str(number)


def clean_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes", "y", "checked"}
    if isinstance(value, int | float):
        return bool(value)
    return False
