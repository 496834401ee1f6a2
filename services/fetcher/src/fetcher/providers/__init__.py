"""Mail and calendar providers read through their own APIs (Gmail, Microsoft Graph)."""
