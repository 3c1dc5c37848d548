"""Parse every captured hermes/intent payload (one JSON per line on stdin) with rhasspy-hermes' NluIntent; print
the number parsed, or the first failure."""

import json
import sys

from rhasspyhermes.nlu import NluIntent

n = 0
for line in sys.stdin:
    NluIntent.from_dict(json.loads(line))
    n += 1
print(n)
