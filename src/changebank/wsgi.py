"""WSGI entry point for application servers (waitress, gunicorn, uWSGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changebank.settings")
application = get_wsgi_application()
