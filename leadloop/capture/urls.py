from django.urls import path

from leadloop.capture import views

app_name = "capture"
urlpatterns = [
    path("widget.js", views.widget_script, name="widget"),
    path("p/<slug:slug>", views.landing_page, name="landing_page"),
    path("p/<slug:slug>/chat", views.chat_page, name="chat"),
    path("p/<slug:slug>/thanks", views.thanks, name="thanks"),
    path("p/<slug:slug>/download/<str:token>", views.download, name="download"),
]
