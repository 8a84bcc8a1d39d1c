"""Page content for the request pages: one module per page or shared part.

Each page's dataclass is the documented context of its template (`page` in the template). The
functions read and change the database through the workflow modules, in the caller's
transaction, and turn a refusal into a message for the page (`common.ActionRefused`). Nothing
here puts personal data in a URL: pages and forms name requests, plans and holds by id only.
"""
