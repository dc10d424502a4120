"""The Slack bot: a thin slack-bolt client of the answer engine (Socket Mode or HTTP Events in the API)."""
