"""Research Q&A URLs. Included under /research/ by workspace/urls.py:

path("research/", include("research.qa_urls")),
"""

from django.urls import path

from research.qa import views as qa_views

app_name = "qa"
urlpatterns = [
    path("<int:project_id>/ask/", qa_views.ask, name="ask"),
    path("threads/<int:thread_id>/", qa_views.thread, name="thread"),
    path("questions/<int:question_id>/", qa_views.question, name="question"),
    path("questions/<int:question_id>/stream/", qa_views.stream, name="stream"),
    path("questions/<int:question_id>/retry/", qa_views.retry, name="retry"),
    path("questions/<int:question_id>/context/", qa_views.context_map, name="context_map"),
]
