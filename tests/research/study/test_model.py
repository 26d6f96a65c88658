"""A study generator against the real embedded model (Gemma 3 270M through llama.cpp): the
schema built from the prompt constrains its JSON through llama.cpp's grammar, so even the
tiny demo model returns cards that validate and cite a page it was shown. One short call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from research.models import Flashcard, Project, StudyJob
from research.study import services as study_services
from tests.research.qa.test_views import add_document
from workspace.runtime.embedded import EmbeddedRuntime, packaged_gguf_path

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def runtime() -> Iterator[EmbeddedRuntime]:
    rt = EmbeddedRuntime(packaged_gguf_path(), n_ctx=4096)
    yield rt
    rt.close()


def test_the_embedded_model_writes_a_flashcard_that_validates_and_cites_a_page_it_saw(
    runtime, user
) -> None:
    project = Project.objects.create(owner=user, title="Astronomy")
    paper = add_document(
        project,
        "The Moon",
        [
            "The Moon orbits the Earth once every 27 days.\n\nIts surface is covered in craters.",
            "The Moon has no atmosphere, so the sky there is black even by day.",
        ],
    )
    job = study_services.flashcards_generate(project=project, user=user, documents=[paper], count=1)
    study_services.job_run(job_id=job.pk, attempt=job.attempt, runtime=runtime)
    job.refresh_from_db()

    assert job.status == StudyJob.Status.DONE, f"{job.error}\n{job.error_detail}"
    assert job.invalid_outputs == 0  # the grammar kept the JSON to the schema
    made = Flashcard.objects.get()
    assert made.document_id == paper.pk
    assert made.pages and set(made.pages) <= {1, 2}
    assert len(made.front) >= 3 and made.generated
    assert job.message == "Done: 1 new card."
