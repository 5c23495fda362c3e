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
    close = difflib.get_close_matches(key, list(table), n=3)
    # Of the close names, the fewest edits away (a swap of two letters counts as one edit):
    # 'adma' is 'adam' with two letters swapped, though difflib ranks 'adamax' closer.
    close = sorted(close, key=lambda name: _edits(key, name))
    hint = f" Did you mean {close[0]!r}?" if close else ""
    valid = ", ".join(repr(k) for k in sorted(table))
    raise ValueError(f"Unknown {kind} {name!r}.{hint} Valid names: {valid}.")


def _edits(a, b):
    """Edit distance with adjacent swaps (optimal string alignment).

    >>> _edits("adma", "adam"), _edits("adma", "adamax")
    (1, 2)
    """
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(
                rows[i - 1][j] + 1,
                row[j - 1] + 1,
                rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]
