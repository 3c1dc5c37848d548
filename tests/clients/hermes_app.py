"""A rhasspy-hermes-app intent handler, run by the pinned Hermes clients' Python (tests/clients/venvs.py): it
prints one JSON line per intent its handler receives, parsed by rhasspy-hermes' own NluIntent."""

import json
import os

from rhasspyhermes.nlu import NluIntent
from rhasspyhermes_app import HermesApp

app = HermesApp("homeagent-conformance")


@app.on_intent(*os.environ["HERMES_INTENTS"].split(","))
async def handle(intent: NluIntent) -> None:
    print(json.dumps({"name": intent.intent.intent_name, "id": intent.id, "site": intent.site_id,
                      "input": intent.input, "confidence": intent.intent.confidence_score,
                      "slots": {s.slot_name: s.value["value"] for s in intent.slots or []},
                      "raw": {s.slot_name: s.raw_value for s in intent.slots or []}}), flush=True)


app.run()
