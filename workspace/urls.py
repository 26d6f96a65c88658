from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from workspace import views

urlpatterns = [
    path("", views.home, name="home"),
    path("status/", views.status, name="status"),
    path("ui/", views.styleguide, name="styleguide"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("admin/", admin.site.urls),
    path("research/", include("research.urls")),
    path("stories/", include("stories.urls")),
]

# Uploaded files are never served by URL: they are read only through views that check access
# (research/access.py), so a guessed path cannot expose someone else's upload.
