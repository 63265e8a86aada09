"""Signing in and out, and resetting a forgotten password: Django's own views, our templates."""

from django.contrib.auth import views as auth
from django.urls import path, reverse_lazy

urlpatterns = [
    path(
        "app/login/",
        auth.LoginView.as_view(template_name="crm/accounts/login.html"),
        name="login",
    ),
    path("app/logout/", auth.LogoutView.as_view(), name="logout"),
    path(
        "app/password-reset/",
        auth.PasswordResetView.as_view(
            template_name="crm/accounts/password_reset.html",
            email_template_name="crm/accounts/password_reset_email.txt",
            subject_template_name="crm/accounts/password_reset_subject.txt",
            success_url=reverse_lazy("crm:password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "app/password-reset/sent/",
        auth.PasswordResetDoneView.as_view(template_name="crm/accounts/password_reset_sent.html"),
        name="password_reset_done",
    ),
    path(
        "app/password-reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(
            template_name="crm/accounts/password_reset_confirm.html",
            success_url=reverse_lazy("crm:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "app/password-reset/done/",
        auth.PasswordResetCompleteView.as_view(
            template_name="crm/accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]
