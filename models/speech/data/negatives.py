"""Generated "unknown" speech: many varied words and sentences, including near-misses that share words
with the commands. Deterministic for a given seed; never returns a command phrase."""

from __future__ import annotations

import numpy as np

from agent.speech.sets.commands import CommandSet

WORDS = """
yes no up down left right on off stop go zero one two three four five six seven eight nine ten bed bird cat dog
happy house marvin sheila tree wow hello thanks please maybe later today tomorrow tonight morning evening week
weekend monday friday window door garage kitchen bedroom garden oven fridge radio phone computer timer alarm
weather news coffee dinner water book car keys wallet mother father friend baby sister brother teacher doctor
red green blue yellow black white big small hot cold fast slow early late happy sad funny quiet loud bright dark
open close start finish begin end light heat blind music volume play pause turn switch raise lower make set
call send read write walk run sit stand talk sing dance cook clean wash buy sell pay give take find lose keep
what where when why who how which this that these those here there now then again always never sometimes
""".split()  # noqa: SIM905

TEMPLATES = [
    "{w} {w}", "{w} the {w}", "the {w} is {w}", "can you {w} the {w}", "i want to {w}", "{w} my {w}",
    "please {w} it", "where is the {w}", "is it {w}", "turn {w} the {w}", "{w} it {w}", "the {w} {w}",
    "let's {w} {w}", "did you {w} the {w}", "{w} {w} {w}", "{w}", "{w}", "{w} please", "not the {w}",
    "what about the {w}", "{w} and {w}", "it is {w} {w}", "{w} the {w} {w}", "how {w} is the {w}",
]

SENTENCES = [
    "next week", "stop talking", "what time is it", "how are you", "see you later", "good night",
    "i am going to the shop", "can you hear me", "the kids are asleep", "it's raining again",
    "where did i put my phone", "what's for dinner", "i'll be right back", "turn the page", "open the book",
    "close your eyes", "play it again sam", "the music was great", "the lights in the city", "a warm welcome",
    "stop the car", "pause for a moment", "volume two of the series", "heat the oven", "the blinds man",
    "turn on the tv", "turn off the tap", "switch to channel four", "lights camera action", "open sesame",
    "keep it down", "speak up", "not now", "never mind", "cancel that", "okay google", "hey siri", "alexa",
    "one two three", "seven eleven", "down the road", "up in the air", "left or right", "on and off",
    "yes or no", "go away", "let it go", "turn it off and on", "it's too hot in here", "i'm freezing",
]


def generate(cset: CommandSet, n: int, seed: int) -> list[str]:
    """The set's own negatives, fixed sentences, then random template fills up to ``n`` distinct phrases."""
    commands = {p for ps in cset.intents.values() for p in ps}
    out: list[str] = []
    seen: set[str] = set()

    def add(p: str) -> None:
        p = " ".join(p.split())
        if p and p not in seen and p not in commands:
            seen.add(p)
            out.append(p)

    for p in (*cset.negatives, *SENTENCES):
        add(p)
    rng = np.random.default_rng(seed)
    words = WORDS + sorted({w for p in commands for w in p.split()})
    tries = 0
    while len(out) < n and tries < n * 50:
        tries += 1
        t = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        parts = t.split("{w}")
        fill = "".join(a + (words[int(rng.integers(len(words)))] if i < len(parts) - 1 else "")
                       for i, a in enumerate(parts))
        add(fill)
    return out[:max(n, len(cset.negatives))]
