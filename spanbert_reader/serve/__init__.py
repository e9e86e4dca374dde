"""Serving: a Hayhooks pipeline wrapper for the QA pipeline and the app ``spanbert-qa serve`` starts."""
