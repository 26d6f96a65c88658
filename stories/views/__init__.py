"""The campaign pages, one module per section of the app (stories/urls.py maps them).

Every view is thin: it loads the campaign through the user's membership
(`stories.selectors.member_get_for_user`, which also checks the role; `common.member_for`
turns "not a member" into a 404), calls one service or one `<page>_view` selector, and
renders a template under templates/stories/<section>/ (a partial under
<section>/partials/ for an htmx request) or redirects with a message.
"""
