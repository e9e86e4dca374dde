"""The one error type the application layer raises for problems a user can fix (reported as a message)."""


class AppError(Exception):
    """A problem with the user's settings, files or services; commands print it without a traceback."""
