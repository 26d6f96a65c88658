"""Study pages, one module per tool. Every object is loaded through a selector that filters
by access (research/access.py), so another person's id is a 404; a POST needs an editor or
the owner (a viewer gets 403). Generators run in Celery; a page shows each job's progress
and polls it with htmx (or the reader reloads without JavaScript)."""
