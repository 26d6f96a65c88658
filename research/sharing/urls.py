"""Sharing a project with people and groups (`research:sharing:<name>`; the owner's only)."""

from django.urls import path

from research.sharing import views

app_name = "sharing"
urlpatterns = [
    path("<int:project_id>/sharing/", views.share_list, name="share_list"),
    path("<int:project_id>/sharing/<int:share_id>/role/", views.share_role, name="share_role"),
    path(
        "<int:project_id>/sharing/<int:share_id>/remove/", views.share_remove, name="share_remove"
    ),
]
