"""Getting URL lists in: the url_lists sensor and schedule."""
