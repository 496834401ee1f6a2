"""How the service is started: the HTTP app (``http``, the ``timeline-api`` command), the
projection's consumers (``projection``) and the ``crm-admin`` command (``admin``)."""
