"""The as-you-type check's answer, as the API documents it."""

from pydantic import BaseModel


class EmailCheckOut(BaseModel):
    valid: bool
    message: str = ""
    normalized: str = ""
    suggestion: str = ""
    deliverability: str = ""
    disposable: bool = False
    role_account: bool = False
    free_mail: bool = False


class PhoneCheckOut(BaseModel):
    valid: bool
    message: str = ""
    e164: str = ""
    possible: bool = False
    line_type: str = ""
    carrier: str = ""
    region: str = ""
    location: str = ""
    time_zones: list[str] = []
    country_name: str = ""


class CheckAsTypedOut(BaseModel):
    email: EmailCheckOut | None = None
    phone: PhoneCheckOut | None = None
