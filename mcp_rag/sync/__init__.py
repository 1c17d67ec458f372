"""Live sync: pulling new conversations from a service's API (Slack today) into the store."""
