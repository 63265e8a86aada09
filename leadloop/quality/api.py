"""Quality's API: the as-you-type check for the hosted pages, the admin and API clients."""

from django.http import HttpRequest
from ninja import Router

from leadloop.quality import services
from leadloop.quality.schemas import CheckAsTypedOut

router = Router(tags=["quality"])


@router.get(
    "/validate",
    response=CheckAsTypedOut,
    summary="Check an email address and/or phone number as it is typed",
    description=(
        "Syntax and normalisation, a typo suggestion (gmial.com → gmail.com), whether the domain "
        "takes mail (deliverable, undeliverable, or unknown when DNS could not answer), "
        "disposable, role and free-mail flags; for a phone: validity, E.164, line type, carrier "
        "where known, region and time zones. `region` is the country a national number is read in."
    ),
)
def validate(request: HttpRequest, email: str = "", phone: str = "", region: str = "US"):
    return services.check_as_typed(email[:254], phone[:40], region[:2].upper())
