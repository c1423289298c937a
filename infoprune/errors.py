"""Errors that are the user's to fix: the CLI prints their message as one line and exits 2."""


class UserError(Exception):
    """Bad input (names, ratios, corpora, folders). Its message is the whole story, no traceback."""


class CriterionError(UserError):
    """An unknown criterion, a bad parameter, or a criterion whose scores cannot be used."""
