"""The HTTP edge, routers only: each route turns a request into a call of a use case
(``timeline_api.service``) or a read through a port, and the answer into a response
model; errors become problem details (``problems``)."""
