"""Carrel's URLs plus one view that fails, for the server error page test."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from workspace.urls import urlpatterns as carrel


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [path("broken/", broken), *carrel]
