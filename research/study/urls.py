"""The study tools (`research:study:<name>`): jobs, flashcards and review, timelines,
comparisons, and digests (summaries across documents)."""

from django.urls import path

from research.study.views import comparisons, digests, flashcards, jobs, review, timelines

app_name = "study"
urlpatterns = [
    path("<int:project_id>/study/", jobs.study_home, name="home"),
    path("study/jobs/<int:job_id>/", jobs.job_detail, name="job"),
    path("study/jobs/<int:job_id>/retry/", jobs.job_retry, name="job_retry"),
    path("study/jobs/<int:job_id>/discard/", jobs.job_discard, name="job_discard"),
    # flashcards and review
    path("<int:project_id>/flashcards/", flashcards.flashcard_list, name="flashcard_list"),
    path(
        "<int:project_id>/flashcards/generate/",
        flashcards.flashcard_generate,
        name="flashcard_generate",
    ),
    path(
        "<int:project_id>/flashcards/from-answer/",
        flashcards.flashcard_generate_from_answer,
        name="flashcard_from_answer",
    ),
    path("<int:project_id>/flashcards/new/", flashcards.flashcard_create, name="flashcard_create"),
    path(
        "<int:project_id>/flashcards/export/<str:fmt>/",
        flashcards.flashcard_export,
        name="flashcard_export",
    ),
    path("flashcards/<int:card_id>/edit/", flashcards.flashcard_edit, name="flashcard_edit"),
    path("flashcards/<int:card_id>/delete/", flashcards.flashcard_delete, name="flashcard_delete"),
    path("flashcards/<int:card_id>/grade/", review.flashcard_grade, name="flashcard_grade"),
    path("<int:project_id>/review/", review.review_page, name="review"),
    # timeline
    path("<int:project_id>/timeline/", timelines.timeline, name="timeline"),
    path(
        "<int:project_id>/timeline/generate/",
        timelines.timeline_generate,
        name="timeline_generate",
    ),
    path("<int:project_id>/timeline/new/", timelines.event_create, name="event_create"),
    path(
        "<int:project_id>/timeline/export/<str:fmt>/",
        timelines.timeline_export,
        name="timeline_export",
    ),
    path("timeline/events/<int:event_id>/edit/", timelines.event_edit, name="event_edit"),
    path("timeline/events/<int:event_id>/delete/", timelines.event_delete, name="event_delete"),
    # comparisons
    path("<int:project_id>/comparisons/", comparisons.comparison_list, name="comparison_list"),
    path(
        "comparisons/<int:comparison_id>/",
        comparisons.comparison_detail,
        name="comparison_detail",
    ),
    path(
        "comparisons/<int:comparison_id>/regenerate/",
        comparisons.comparison_regenerate,
        name="comparison_regenerate",
    ),
    path(
        "comparisons/<int:comparison_id>/export/<str:fmt>/",
        comparisons.comparison_export,
        name="comparison_export",
    ),
    path("comparisons/cells/<int:cell_id>/edit/", comparisons.cell_edit, name="cell_edit"),
    # digests (summaries across documents)
    path("<int:project_id>/digests/", digests.digest_list, name="digest_list"),
    path("digests/<int:digest_id>/", digests.digest_detail, name="digest_detail"),
    path("digests/<int:digest_id>/edit/", digests.digest_edit, name="digest_edit"),
    path(
        "digests/<int:digest_id>/regenerate/",
        digests.digest_regenerate,
        name="digest_regenerate",
    ),
    path("digests/<int:digest_id>/export/", digests.digest_export, name="digest_export"),
    path(
        "documents/<int:document_id>/summary/export/",
        digests.document_summary_export,
        name="document_summary_export",
    ),
]
