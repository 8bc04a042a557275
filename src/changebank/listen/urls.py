from django.urls import path

app_name = "listen"
urlpatterns: list = []
