from django.apps import AppConfig


class ShareConfig(AppConfig):
    name = "changebank.share"
    label = "share"
    verbose_name = "Share"
