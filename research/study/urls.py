"""Study-tool URLs. Included under /research/ by workspace/urls.py:

path("research/", include("research.study_urls")),
"""

from django.urls import path

from research.study import views

app_name = "study"
urlpatterns = [
    path("<int:project_id>/study/", views.study_home, name="home"),
    path("study/jobs/<int:job_id>/", views.job_detail, name="job"),
    path("study/jobs/<int:job_id>/retry/", views.job_retry, name="job_retry"),
    # flashcards and review
    path("<int:project_id>/flashcards/", views.flashcard_list, name="flashcard_list"),
    path(
        "<int:project_id>/flashcards/generate/",
        views.flashcard_generate,
        name="flashcard_generate",
    ),
    path(
        "<int:project_id>/flashcards/from-answer/",
        views.flashcard_generate_from_answer,
        name="flashcard_from_answer",
    ),
    path("<int:project_id>/flashcards/new/", views.flashcard_create, name="flashcard_create"),
    path(
        "<int:project_id>/flashcards/export/<str:fmt>/",
        views.flashcard_export,
        name="flashcard_export",
    ),
    path("flashcards/<int:card_id>/edit/", views.flashcard_edit, name="flashcard_edit"),
    path("flashcards/<int:card_id>/delete/", views.flashcard_delete, name="flashcard_delete"),
    path("flashcards/<int:card_id>/grade/", views.flashcard_grade, name="flashcard_grade"),
    path("<int:project_id>/review/", views.review_page, name="review"),
    # timeline
    path("<int:project_id>/timeline/", views.timeline, name="timeline"),
    path("<int:project_id>/timeline/generate/", views.timeline_generate, name="timeline_generate"),
    path("<int:project_id>/timeline/new/", views.event_create, name="event_create"),
    path(
        "<int:project_id>/timeline/export/<str:fmt>/",
        views.timeline_export,
        name="timeline_export",
    ),
    path("timeline/events/<int:event_id>/edit/", views.event_edit, name="event_edit"),
    path("timeline/events/<int:event_id>/delete/", views.event_delete, name="event_delete"),
    # comparisons
    path("<int:project_id>/comparisons/", views.comparison_list, name="comparison_list"),
    path("comparisons/<int:comparison_id>/", views.comparison_detail, name="comparison_detail"),
    path(
        "comparisons/<int:comparison_id>/regenerate/",
        views.comparison_regenerate,
        name="comparison_regenerate",
    ),
    path(
        "comparisons/<int:comparison_id>/export/<str:fmt>/",
        views.comparison_export,
        name="comparison_export",
    ),
    path("comparisons/cells/<int:cell_id>/edit/", views.cell_edit, name="cell_edit"),
    # summaries
    path("<int:project_id>/summaries/", views.digest_list, name="digest_list"),
    path("summaries/<int:digest_id>/", views.digest_detail, name="digest_detail"),
    path("summaries/<int:digest_id>/edit/", views.digest_edit, name="digest_edit"),
    path(
        "summaries/<int:digest_id>/regenerate/",
        views.digest_regenerate,
        name="digest_regenerate",
    ),
    path("summaries/<int:digest_id>/export/", views.digest_export, name="digest_export"),
    path(
        "documents/<int:document_id>/summary/export/",
        views.document_summary_export,
        name="document_summary_export",
    ),
]
