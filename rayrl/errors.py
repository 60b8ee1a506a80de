"""User-facing errors: the CLI prints their message as one line, without a traceback."""


class RayrlError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


def did_you_mean(word: str, known, otherwise: str = "") -> str:
    """'; did you mean 'x'?' for the closest of ``known`` to a misspelled ``word``, else ``otherwise``."""
    import difflib

    close = difflib.get_close_matches(str(word), list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else otherwise


def one_line(error: BaseException) -> str:
    """'TypeError: first line of the message' (long messages cut at 160 characters)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0][:160]}" if text else type(error).__name__
