from django.contrib import admin

from stories.models import Campaign, CampaignMember, Entity, Event, Summary, Turn


class MemberInline(admin.TabularInline):
    model = CampaignMember
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "head_turn", "updated_at"]
    search_fields = ["title"]
    inlines = [MemberInline]
    readonly_fields = ["head_turn", "last_sequence", "clock_minutes", "summarized_through"]


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "campaign", "status"]
    list_filter = ["kind"]
    search_fields = ["name"]

    # The projection is rebuilt from events: edit entities on the campaign's own pages.
    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    list_display = ["campaign", "number", "status", "undone", "actor_label", "created_at"]
    list_filter = ["status", "undone"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["campaign", "sequence", "turn_number", "kind", "applied", "undone"]
    list_filter = ["kind", "applied", "undone"]

    def has_change_permission(self, request, obj=None):
        return False


admin.site.register(Summary)
