from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from workspace.runtime.select import active_backend_name


def carrel(request: HttpRequest) -> dict[str, object]:
    """Site-wide template values. `CARREL_DEMO_MODEL` is lazy: the backend probe (cached for a
    minute) runs only on pages that show the demo-model banner, i.e. for signed-in users."""
    return {
        "CARREL_ALLOW_SIGNUP": settings.CARREL_ALLOW_SIGNUP,
        "CARREL_DEMO_MODEL": SimpleLazyObject(lambda: active_backend_name() == "embedded"),
        "CARREL_OLLAMA_MODEL": settings.OLLAMA_MODEL,
    }
