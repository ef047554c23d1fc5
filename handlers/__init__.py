"""The conversation core: channel-neutral, knows no chat library."""
