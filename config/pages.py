"""Server-rendered pages."""

from django.shortcuts import render
from django.urls import path


def dashboard(request):
    return render(request, "dashboard/index.html")


urlpatterns = [path("", dashboard, name="dashboard")]
