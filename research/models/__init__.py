"""Research's models, one module per feature, all under the app label "research"."""

from research.models.library import (
    Chunk,
    ChunkVector,
    Document,
    ExtractionPart,
    ImportBatch,
    Page,
    Project,
)
from research.models.qa import Answer, MapNote, Question, Thread
from research.models.sharing import ProjectShare
from research.models.study import (
    Comparison,
    ComparisonCell,
    Digest,
    EventSource,
    Flashcard,
    ReviewLog,
    StudyJob,
    StudyTag,
    TimelineEvent,
)

__all__ = [
    "Answer",
    "Chunk",
    "ChunkVector",
    "Comparison",
    "ComparisonCell",
    "Digest",
    "Document",
    "EventSource",
    "ExtractionPart",
    "Flashcard",
    "ImportBatch",
    "MapNote",
    "Page",
    "Project",
    "ProjectShare",
    "Question",
    "ReviewLog",
    "StudyJob",
    "StudyTag",
    "Thread",
    "TimelineEvent",
]
