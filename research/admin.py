from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.http import HttpRequest

from research.models import Chunk, Document, ExtractionPart, Page, Project, ProjectShare


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "owner", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["title", "owner__username"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "title", "project", "stage", "summary_status", "page_count", "token_count",
        "attempt", "updated_at",
    ]  # fmt: skip
    list_filter = ["stage", "summary_status", "file_type", "error_code"]
    search_fields = ["title", "original_name", "content_hash"]
    exclude = ["pdf_password"]
    readonly_fields = ["content_hash", "attempt", "heartbeat_at", "worker", "indexed_at"]


@admin.register(ExtractionPart)
class ExtractionPartAdmin(admin.ModelAdmin):
    list_display = ["document", "first_page", "last_page", "status", "attempt", "pages_done"]
    list_filter = ["status"]


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["document", "number", "label", "token_count"]
    search_fields = ["document__title"]


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["document", "ordinal", "page_start", "page_end", "token_count"]
    search_fields = ["document__title"]


@admin.register(ProjectShare)
class ProjectShareAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "group", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["project__title", "user__username", "group__name"]
    raw_id_fields = ["project", "user"]
    readonly_fields = ["created_by", "created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: ProjectShare, form: Any, change: bool) -> None:
        if not change and isinstance(request.user, User):
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
