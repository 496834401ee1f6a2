"""Runtime plumbing shared by the services. No product rules live here."""
