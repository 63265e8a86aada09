from django.urls import path

from leadloop.nurture import views

app_name = "nurture"
urlpatterns = [
    path("n/o/<str:token>.gif", views.opened, name="open"),
    path("n/c/<str:token>", views.clicked, name="click"),
    path("n/u/<str:token>", views.unsubscribe, name="unsubscribe"),
]
