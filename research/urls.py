"""Research's URLs, all under /research/ in one namespace, `research`.

A project's library (projects, uploads, documents, pages) is at the top
(`research:project_detail`); each feature is a namespace inside it: `research:qa:ask`,
`research:study:flashcard_list`, `research:sharing:share_list`. A project's own pages
take `project_id`; everything else is reached by its own id.
"""

from django.urls import include, path

app_name = "research"
urlpatterns = [
    path("", include("research.library.urls")),
    path("", include("research.qa.urls")),
    path("", include("research.study.urls")),
    path("", include("research.sharing.urls")),
    path("", include("research.citing.urls")),
]
