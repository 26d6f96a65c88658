"""The site's URLs plus the stories app, until workspace/urls.py includes it."""

from django.urls import include, path

from workspace.urls import urlpatterns as site_urlpatterns

urlpatterns = list(site_urlpatterns)
if not any(getattr(p, "namespace", None) == "stories" for p in urlpatterns):
    urlpatterns.append(path("stories/", include("stories.urls")))
