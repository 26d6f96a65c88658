from django.urls import path

from stories import views

app_name = "stories"

urlpatterns = [
    path("", views.campaign_list, name="campaign_list"),
    path("new/", views.campaign_create, name="campaign_create"),
    path("import/", views.campaign_import, name="campaign_import"),
    path("<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("<int:pk>/world/", views.world_panel, name="world_panel"),
    path("<int:pk>/settings/", views.campaign_settings, name="campaign_settings"),
    path("<int:pk>/members/", views.member_add, name="member_add"),
    path(
        "<int:pk>/members/<int:member_id>/character/",
        views.member_character,
        name="member_character",
    ),
    path("<int:pk>/members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("<int:pk>/turns/", views.turn_create, name="turn_create"),
    path("<int:pk>/turns/<int:turn_id>/stream/", views.turn_stream, name="turn_stream"),
    path("<int:pk>/turns/<int:turn_id>/run/", views.turn_run_now, name="turn_run"),
    path("<int:pk>/turns/<int:turn_id>/retry/", views.turn_retry, name="turn_retry"),
    path("<int:pk>/turns/<int:turn_id>/discard/", views.turn_delete, name="turn_discard"),
    path("<int:pk>/turns/<int:turn_id>/context/", views.context_map, name="context_map"),
    path("<int:pk>/timeline/", views.campaign_timeline, name="campaign_timeline"),
    path("<int:pk>/state/", views.state_as_of, name="state_as_of"),
    path("<int:pk>/undo/", views.undo, name="undo"),
    path("<int:pk>/branch/", views.branch, name="branch"),
    path("<int:pk>/export.json", views.export_json, name="export_json"),
    path("<int:pk>/chronicle.md", views.chronicle, name="chronicle"),
    path("<int:pk>/lorebook/", views.lorebook_import, name="lorebook_import"),
    path("<int:pk>/entities/new/", views.entity_create, name="entity_create"),
    path("<int:pk>/entities/<int:number>/", views.entity_detail, name="entity_detail"),
    path("<int:pk>/entities/<int:number>/edit/", views.entity_edit, name="entity_edit"),
    path("<int:pk>/entities/<int:number>/holdings/", views.holding_set, name="holding_set"),
    path(
        "<int:pk>/entities/<int:number>/relationships/",
        views.relationship_set,
        name="relationship_set",
    ),
    path(
        "<int:pk>/entities/<int:number>/connections/", views.connection_add, name="connection_add"
    ),
    path(
        "<int:pk>/entities/<int:number>/connections/<int:other>/remove/",
        views.connection_remove,
        name="connection_remove",
    ),
    path("<int:pk>/proposals/", views.proposals, name="proposals"),
    path(
        "<int:pk>/proposals/<int:proposal_id>/accept/",
        views.proposal_accept_view,
        name="proposal_accept",
    ),
    path(
        "<int:pk>/proposals/<int:proposal_id>/dismiss/",
        views.proposal_dismiss_view,
        name="proposal_dismiss",
    ),
]
