from django.urls import path

from stories.views import campaigns, entities, files, history, proposals, table, turns, world_map

app_name = "stories"

member = "<int:pk>/members/<int:member_id>"
turn = "<int:pk>/turns/<int:turn_id>"
entity = "<int:pk>/entities/<int:number>"
connection = f"{entity}/connections/<int:other>"
proposal = "<int:pk>/proposals/<int:proposal_id>"

urlpatterns = [
    # campaigns
    path("", campaigns.campaign_list, name="campaign_list"),
    path("new/", campaigns.campaign_create, name="campaign_create"),
    path("<int:pk>/", campaigns.campaign_detail, name="campaign_detail"),
    path("<int:pk>/world/", campaigns.world_panel, name="world_panel"),
    path("<int:pk>/settings/", campaigns.campaign_settings, name="campaign_settings"),
    path("<int:pk>/members/", campaigns.member_add, name="member_add"),
    path(f"{member}/character/", campaigns.member_character, name="member_character"),
    path(f"{member}/remove/", campaigns.member_remove, name="member_remove"),
    # turns
    path("<int:pk>/turns/", turns.turn_create, name="turn_create"),
    path(f"{turn}/", turns.turn_detail, name="turn_detail"),
    path(f"{turn}/stream/", turns.turn_stream, name="turn_stream"),
    path(f"{turn}/run/", turns.turn_run, name="turn_run"),
    path(f"{turn}/retry/", turns.turn_retry, name="turn_retry"),
    path(f"{turn}/discard/", turns.turn_discard, name="turn_discard"),
    path(f"{turn}/context/", turns.context_map, name="context_map"),
    # the table: dice
    path("<int:pk>/rolls/", table.roll_create, name="roll_create"),
    path("<int:pk>/rolls/setting/", table.rolls_setting, name="rolls_setting"),
    # history
    path("<int:pk>/timeline/", history.campaign_timeline, name="campaign_timeline"),
    path("<int:pk>/state/", history.state_as_of, name="state_as_of"),
    path("<int:pk>/undo/", history.undo, name="undo"),
    path("<int:pk>/branch/", history.branch, name="branch"),
    # the picture of the world
    path("<int:pk>/map/", world_map.world_map, name="world_map"),
    # files
    path("import/", files.campaign_import, name="campaign_import"),
    path("<int:pk>/export.json", files.export_json, name="export_json"),
    path("<int:pk>/chronicle.md", files.chronicle, name="chronicle"),
    path("<int:pk>/lorebook/", files.lorebook_import, name="lorebook_import"),
    path("<int:pk>/lorebook/preview/", files.lorebook_preview_create, name="lorebook_preview"),
    path(
        "<int:pk>/lorebook/preview/<slug:token>/",
        files.lorebook_preview,
        name="lorebook_preview_detail",
    ),
    path("<int:pk>/world-info.json", files.world_info_export, name="world_info_export"),
    path("<int:pk>/cards/", files.card_import, name="card_import"),
    path("<int:pk>/cards/<int:character>/card.json", files.card_export, name="card_export"),
    # entities
    path("<int:pk>/entities/new/", entities.entity_create, name="entity_create"),
    path(f"{entity}/", entities.entity_detail, name="entity_detail"),
    path(f"{entity}/edit/", entities.entity_edit, name="entity_edit"),
    path(f"{entity}/holdings/", entities.holding_set, name="holding_set"),
    path(f"{entity}/relationships/", entities.relationship_set, name="relationship_set"),
    path(f"{entity}/connections/", entities.connection_add, name="connection_add"),
    path(f"{connection}/remove/", entities.connection_remove, name="connection_remove"),
    # proposals from world documents
    path("<int:pk>/proposals/", proposals.proposal_list, name="proposals"),
    path(f"{proposal}/accept/", proposals.proposal_accept, name="proposal_accept"),
    path(f"{proposal}/dismiss/", proposals.proposal_dismiss, name="proposal_dismiss"),
]
