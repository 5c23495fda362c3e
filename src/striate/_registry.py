"""Name lookups with helpful errors: list the valid names and suggest the closest."""

import difflib


def lookup(kind, name, table):
    """Return table[name] (case-insensitive), or raise ValueError listing names and a suggestion.

    >>> lookup("activation", "ReLU", {"relu": 1})
    1
    """
    if not isinstance(name, str):
        raise TypeError(f"Expected a {kind} name (str) or object. Received: {kind}={name!r}")
    key = name.lower()
    if key in table:
        return table[key]
    close = difflib.get_close_matches(key, list(table), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    valid = ", ".join(repr(k) for k in sorted(table))
    raise ValueError(f"Unknown {kind} {name!r}.{hint} Valid names: {valid}.")
