"""Cited work out (`research:citing:<name>`)."""

from django.urls import path

from research.citing import views

app_name = "citing"
urlpatterns = [
    path("questions/<int:question_id>/cited.md", views.answer_markdown, name="answer_markdown"),
    path("questions/<int:question_id>/cited.bib", views.answer_bibtex, name="answer_bibtex"),
    path("digests/<int:digest_id>/cited.md", views.digest_markdown, name="digest_markdown"),
    path("digests/<int:digest_id>/cited.bib", views.digest_bibtex, name="digest_bibtex"),
    path(
        "comparisons/<int:comparison_id>/cited.md",
        views.comparison_markdown,
        name="comparison_markdown",
    ),
    path(
        "comparisons/<int:comparison_id>/cited.bib",
        views.comparison_bibtex,
        name="comparison_bibtex",
    ),
]
