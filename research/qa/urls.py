"""Research Q&A (`research:qa:<name>`)."""

from django.urls import path

from research.qa import views

app_name = "qa"
urlpatterns = [
    path("<int:project_id>/ask/", views.ask, name="ask"),
    path("threads/<int:thread_id>/", views.thread, name="thread"),
    path("questions/<int:question_id>/", views.question, name="question"),
    path("questions/<int:question_id>/stream/", views.stream, name="stream"),
    path("questions/<int:question_id>/retry/", views.retry, name="retry"),
    path("questions/<int:question_id>/cancel/", views.cancel, name="cancel"),
    path("questions/<int:question_id>/route/", views.choose_route, name="choose_route"),
    path("questions/<int:question_id>/whole-library/", views.whole_library, name="whole_library"),
    path("questions/<int:question_id>/write/", views.write_answer, name="write_answer"),
    path("questions/<int:question_id>/context/", views.context_map, name="context_map"),
]
