"""The application around the reader: settings, stores, pipelines, indexing and the one QA-pipeline builder
shared by ``spanbert-qa ask``, ``eval`` and ``serve``."""
