"""A project's library: projects, uploads, documents and their pages (`research:<name>`)."""

from django.urls import path

from research.library import views

urlpatterns = [
    path("", views.project_list, name="project_list"),
    path("new/", views.project_create, name="project_create"),
    path("<int:project_id>/", views.project_detail, name="project_detail"),
    path("<int:project_id>/upload/", views.document_upload, name="document_upload"),
    path("<int:project_id>/import/", views.project_import, name="project_import"),
    path("<int:project_id>/summaries/", views.project_summaries, name="project_summaries"),
    path("imports/<int:batch_id>/", views.import_batch, name="import_batch"),
    path(
        "imports/<int:batch_id>/progress/",
        views.import_batch_progress,
        name="import_batch_progress",
    ),
    path("imports/<int:batch_id>/cancel/", views.import_batch_cancel, name="import_batch_cancel"),
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
    path(
        "documents/<int:document_id>/metadata/",
        views.document_metadata,
        name="document_metadata",
    ),
    path("documents/<int:document_id>/bibtex/", views.document_bibtex, name="document_bibtex"),
    path("documents/<int:document_id>/delete/", views.document_delete, name="document_delete"),
    path(
        "documents/<int:document_id>/pages/<int:number>/",
        views.page_detail,
        name="page_detail",
    ),
]
