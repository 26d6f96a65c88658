"""The campaign pages, one module per section of the app (stories/urls.py maps them).

Every view is thin: it loads the campaign through the user's membership
(`stories.selectors.member_get`, which also checks the role), calls one service or one
page selector, and renders a template under templates/stories/<section>/ (a partial under
<section>/partials/ for an htmx request) or redirects with a message.
"""
