from django.urls import path

from research.library import views
from research.sharing import views as sharing_views

app_name = "research"
urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("new/", views.project_create, name="project_create"),
    path("<int:pk>/", views.project_detail, name="project_detail"),
    path("<int:pk>/upload/", views.document_upload, name="document_upload"),
    path("documents/<int:document_id>/", views.document_detail, name="document_detail"),
    path(
        "documents/<int:document_id>/progress/",
        views.document_progress,
        name="document_progress",
    ),
    path("documents/<int:document_id>/cancel/", views.document_cancel, name="document_cancel"),
    path("documents/<int:document_id>/retry/", views.document_retry, name="document_retry"),
    path(
        "documents/<int:document_id>/password/",
        views.document_password,
        name="document_password",
    ),
    path("documents/<int:document_id>/delete/", views.document_delete, name="document_delete"),
    path(
        "documents/<int:document_id>/pages/<int:number>/",
        views.page_detail,
        name="page_detail",
    ),
]

# Sharing a project with people and groups (research/sharing_views.py; the owner's only).
urlpatterns += [
    path("<int:pk>/sharing/", sharing_views.sharing, name="sharing"),
    path("<int:pk>/sharing/<int:share_id>/role/", sharing_views.share_role, name="share_role"),
    path(
        "<int:pk>/sharing/<int:share_id>/remove/", sharing_views.share_remove, name="share_remove"
    ),
]
