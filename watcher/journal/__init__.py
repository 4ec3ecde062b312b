"""The purchase journal: what was about to be bought and what came of it, proposals waiting
for a human, and a few shared settings.

`records.py` holds the records, their states and the `Journal` protocol; `fields.py` the one
shape in which every backend stores them; `sqlite.py` and `dynamodb.py` (on the table of
`table.py`, which also holds the leader lease's fence) the backends; `read_only.py` a journal
that writes nothing, for `explain`.
"""
