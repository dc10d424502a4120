"""Instruct datasets from Slack conversations: conversations -> examples -> quality -> versioned files."""
