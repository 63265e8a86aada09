"""Signing in and out, and a forgotten password reset by email over real SMTP."""

import re

from django.contrib.auth import get_user_model
from django.urls import reverse

from leadloop.crm.access import Role, role_of
from tests.crm.conftest import password_of
from tests.mail_server import text_of


def test_a_person_signs_in_with_their_password(client, person):
    person("rita")
    answer = client.post(
        reverse("crm:login"), {"username": "rita", "password": password_of("rita")}
    )
    assert answer.status_code == 302 and answer["Location"] == reverse("crm:home")


def test_a_wrong_password_says_so_without_saying_which_part(client, person):
    person("rita")
    answer = client.post(reverse("crm:login"), {"username": "rita", "password": "guess"})
    assert answer.status_code == 200
    assert b"do not match" in answer.content


def test_a_workspace_page_sends_a_stranger_to_sign_in(client):
    answer = client.get("/app/pipeline/")
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("crm:login"))


def test_signing_out_ends_the_session(client, person):
    client.force_login(person("rita"))
    client.post(reverse("crm:logout"))
    assert client.get("/app/pipeline/").status_code == 302


def test_a_forgotten_password_is_reset_through_the_emailed_link(client, person, smtp):
    person("rita")
    client.post(reverse("crm:password_reset"), {"email": "rita@team.example"})
    [message] = smtp.to("rita@team.example")
    link = re.search(r"http://\S+/app/password-reset/\S+/", text_of(message)).group(0)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"Choose a new password" in form.content
    new = "a-much-longer-secret-2026"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done.status_code == 302
    assert client.login(username="rita", password=new)


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, smtp, db):
    answer = client.post(reverse("crm:password_reset"), {"email": "nobody@team.example"})
    assert answer.status_code == 302 and smtp.messages == []


def test_roles_come_from_groups_and_a_superuser_is_an_admin(person, db):
    assert role_of(person("mona", Role.MANAGER)) == Role.MANAGER
    boss = get_user_model().objects.create_superuser("boss", "boss@team.example", "x")
    assert role_of(boss) == Role.ADMIN
    nobody = get_user_model().objects.create_user("nobody", "n@team.example", "x")
    assert role_of(nobody) is None
