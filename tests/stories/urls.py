"""The site's URLs, which tests/stories/conftest.py sets as ROOT_URLCONF.

workspace/urls.py includes stories.urls already, so this adds nothing: this module and
that fixture can go.
"""

from django.urls import include, path

from workspace.urls import urlpatterns as site_urlpatterns

urlpatterns = list(site_urlpatterns)
if not any(getattr(p, "namespace", None) == "stories" for p in urlpatterns):
    urlpatterns.append(path("stories/", include("stories.urls")))
