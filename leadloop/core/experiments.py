"""Where an A/B test steps in. Capture asks here which form version a visitor is shown, and
nurture which subject line a lead's email gets; the measure layer, which sits above both and
must not be imported by them, registers the answers in its AppConfig.ready. With nothing
registered (or no test running) everyone gets the thing itself."""

from collections.abc import Callable

# (form id, visitor key, on the hosted landing page?) -> the FormVersion id to serve, or None.
FormVersionPicker = Callable[[int, str, bool], int | None]
# (workflow id, step label, lead id, the email's message key) -> the subject line, or None.
SubjectPicker = Callable[[int, str, int, str], str | None]

_form_version_pickers: list[FormVersionPicker] = []
_subject_pickers: list[SubjectPicker] = []


def register(*, form_version: FormVersionPicker, email_subject: SubjectPicker) -> None:
    _form_version_pickers.append(form_version)
    _subject_pickers.append(email_subject)


def form_version_for(form_id: int, visitor_key: str, *, on_landing_page: bool) -> int | None:
    """The id of the form version an A/B test shows this visitor, or None for the form's own."""
    if not visitor_key:
        return None
    for pick in _form_version_pickers:
        version_id = pick(form_id, visitor_key, on_landing_page)
        if version_id is not None:
            return version_id
    return None


def email_subject_for(workflow_id: int, step_label: str, lead_id: int, message_key: str) -> str:
    """The subject an A/B test gives this lead's email at that step, or "" for the step's own."""
    if not step_label:
        return ""
    for pick in _subject_pickers:
        subject = pick(workflow_id, step_label, lead_id, message_key)
        if subject:
            return subject
    return ""
