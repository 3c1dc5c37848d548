"""Intent and slots from the real-speech recognizer, decoding only what a grammar command set can say.

Every sentence of the set (:meth:`GrammarSet.expand`, with its intent and slot values) is written the way
Whisper writes text — a leading space, the first word in lower case or capitalized — and tokenized word by
word (GPT-2's byte-level BPE splits at spaces, so a word's tokens do not depend on its neighbours). The token
sequences form a trie. :func:`beam_search` walks it with the decoder: at each step every live hypothesis is
extended by the tokens the trie allows there, and the best ``beam`` survive; a hypothesis that completes a
sentence is scored with Whisper's probability of ending there (end of text or a final mark), given that it
does not start the sentence over (Whisper tiny loops on short clips: "3, 8, 7, 3, 8, 7, ..."). A set of
10⁴ sentences (``devices``) is a trie of a few 10⁴ nodes; nothing is trained.

Rejection: Whisper's own transcript, when it is not a sentence of the set, is the "unknown" alternative —
unless it is a misreading of the best sentence (close in characters, :func:`reading_distance`), which then
snaps to that sentence as Rhino answers with a sentence of its grammar: the free reading only wins if it is
likelier by more than an allowance per token (:meth:`AsrGrammar._snap_allowance`). A reading far from every
sentence is unknown. Whisper's silence rule (no-speech probability above 0.6
with the best sentence's mean log-probability per token below -1) rejects noise.

Early endpointing: :attr:`Decoded.final` says the utterance may end here (at a short pause, before the VAD
hangover): Whisper's own transcript is the best sentence, and no sentence of another meaning
goes on from it (:func:`goes_on`): "turn on the light" waits when "turn on the light in the kitchen" is a
sentence of the set; "turn on the lights [please]" does not wait for the "please".
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..types import CommandScores
from .asr_recognizer import CANVAS_SAMPLES, LOW_LOGPROB, silent
from .grammar_recognizer import GrammarScores, decide_joint
from .sets.base import is_grammar_file
from .sets.commands import load_command_set
from .sets.grammar_set import GrammarSet, load_grammar_set
from .sets.grammar_tokens import LazyTokenTrie
from .spoken import numerals, once, reading_distance, spoken_key, unit_forms, written_forms
from .whisper.mel import as_audio
from .whisper.model import Transcript, WhisperAsr
from .whisper.tokenizer import collapse_repeats, normalize
from .whisper.trie import TokenTrie

log = logging.getLogger(__name__)

THRESHOLD = 0.5  # the intent with its slots must be more likely than everything else together
SNAP_CER = 0.35  # a free reading this close (characters) to the best sentence is a misreading of it ...
SNAP_GAP = 2.0  # ... and snaps to it while it is at most this much likelier per token (nats)
LOOSE_CER = 0.6  # a looser reading snaps too ...
LOOSE_GAP = 1.0  # ... while Whisper finds it at most this much likelier per token (nats)
SNAP_MIN_WORDS = 2  # one-word sentences never snap: a misread single word is another word
FAR_NATS = 3.0  # a reading far from every sentence leaves the best one at most e^-3 ≈ 5 % against unknown
EXTEND_NATS = 8.0  # a longer sentence within this of the best may replace it when the reading goes on ...
EXTEND_GAIN = 0.05  # ... and is this much closer to it (characters over length)
RESCUE_BEAM = 24  # the wider beam that looks again for a sentence the free reading misreads
SENTENCE_LIMIT = 250_000  # sets up to this many sentences are decoded here (see decodes_sentences)
GOES_ON_VISITS = 5_000  # trie nodes :func:`goes_on` looks at; a sentence whose continuations are more goes on

_ENDS_IN_DIGIT = re.compile(r"\d\W*$")
_TAG_ONLY = re.compile(r"^\s*([\[(][^\])]*[\])]\s*)+$")  # "[inaudible]", "(speaking in foreign language)"


@dataclass(frozen=True)
class Hypothesis:
    entry: int
    logprob: float
    tokens: int = 1  # its token count (for the mean log-probability of Whisper's silence rule)
    reading: tuple[int, ...] = ()  # the tokens of its best reading (which sentence and writing of the meaning)


def beam_search(asr: WhisperAsr, kv: np.ndarray, trie: TokenTrie | LazyTokenTrie, beam: int = 6,
                max_steps: int = 40) -> tuple[list[Hypothesis], dict[tuple[int, ...], np.ndarray]]:
    """The best complete entries (one hypothesis per entry, best first) and every next-token distribution
    computed on the way (keyed by token prefix, for the greedy transcript to reuse). An entry is a meaning (intent
    and slot values): the probabilities of the sentences and writings that reach it in the search add up, since
    they are different readings of one answer ("turn on the light" / "turn on the lights", "357" / "3 5 7");
    its length is that of its best reading."""
    live: list[tuple[float, int, tuple[int, ...]]] = [(0.0, 0, asr.prompt)]
    done: dict[int, float] = {}
    done_seq: dict[int, tuple[int, ...]] = {}
    done_best: dict[int, float] = {}
    seen: dict[tuple[int, ...], np.ndarray] = {}
    restart = sorted(set(trie.next_tokens(0)) | set(asr.comma_ids))  # a sentence starting over: a repetition
    for _ in range(max_steps):
        if not live:
            break
        dists = asr.step_many(kv, [seq for _, _, seq in live])
        nxt: list[tuple[float, int, tuple[int, ...]]] = []
        for (score, node, seq), dist in zip(live, dists, strict=True):
            seen[seq] = dist
            ends = trie.sentences_at(node)
            if ends:
                end = score + asr.end_given_no_repeat(dist, restart)
                for e in ends:  # an entry is a meaning: its sentences and writings add up
                    if e not in done or end > done_best[e]:
                        done_best[e] = end
                        done_seq[e] = seq[len(asr.prompt):]
                    done[e] = float(np.logaddexp(done.get(e, -np.inf), end))
            for tok, child in trie.next_tokens(node).items():
                nxt.append((score + float(dist[tok]), child, (*seq, tok)))
        nxt.sort(key=lambda h: -h[0])
        best_done = max(done.values(), default=-np.inf)
        live = [h for h in nxt[:beam] if h[0] > best_done - 12.0]  # a prefix can only lose probability
    hyps = sorted((Hypothesis(e, s, len(done_seq[e]), done_seq[e]) for e, s in done.items()),
                  key=lambda h: -h.logprob)
    return hyps, seen


def goes_on(trie: TokenTrie | LazyTokenTrie, tokens: tuple[int, ...], entry: int,
            limit: int = GOES_ON_VISITS) -> bool:
    """Whether a sentence of a meaning other than ``entry`` starts with ``tokens`` (a sentence's reading) and
    goes on, so that a speaker who paused after ``tokens`` may not be done. Conservative: a reading that is not a
    path of the trie, or has more than ``limit`` continuation nodes to look at, goes on. (A reading ending in a
    digit is ruled out before, by :meth:`AsrGrammar._whole`: Whisper's "20" may still become "21", which the trie
    writes as another token, not a continuation.)"""
    node = 0
    for t in tokens:
        nxt = trie.next_tokens(node).get(t)
        if nxt is None:
            return True
        node = nxt
    if not tokens or entry not in trie.sentences_at(node):
        return True
    stack = list(trie.next_tokens(node).values())
    seen = 0
    while stack:
        n = stack.pop()
        seen += 1
        if seen > limit or any(e != entry for e in trie.sentences_at(n)):
            return True
        stack.extend(trie.next_tokens(n).values())
    return False


class AsrGrammar:
    """A grammar set compiled for the recognizer: entries (intent, slots, sentence) and their token trie."""

    def __init__(self, gs: GrammarSet, asr: WhisperAsr, limit: int = SENTENCE_LIMIT) -> None:
        """Sets of up to ``limit`` sentences are written out into a :class:`TokenTrie`; larger ones are decoded
        on a :class:`~agent.speech.sets.grammar_tokens.LazyTokenTrie` that builds only what the search visits."""
        self.set = gs
        self.asr = asr
        self.entries: list[tuple[str, dict[str, str], str]] = []
        self.keys: set[str] | None = set()
        self.trie: TokenTrie | LazyTokenTrie
        if gs.count() > limit:
            self.trie = LazyTokenTrie(gs, asr.tokenizer.encode, unit_forms)
            self.entries = self.trie.entries  # grows as the search completes sentences
            self.keys = None
            log.info("grammar %s: %d sentences, decoded on a lazily built token trie", gs.name, gs.count())
            return
        trie = self.trie = TokenTrie()
        meaning: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        for intent in gs.intents:
            for sentence, slots in gs.expand(intent, limit):
                key = (intent, tuple(sorted(slots.items())))
                e = meaning.get(key, -1)
                if e < 0:  # one entry per meaning (intent and slot values), whichever sentence says it
                    e = meaning[key] = len(self.entries)
                    self.entries.append((intent, slots, sentence))
                self.keys.add(spoken_key(sentence))
                for form in written_forms(sentence):
                    trie.add(asr.tokenizer.encode(form), e)
        log.info("grammar %s: %d sentences (%d meanings), %d trie nodes", gs.name, gs.count(), len(self.entries),
                 len(trie.children))

    def says(self, text: str) -> bool:
        """Whether a transcript (repetitions collapsed) is a sentence of the set."""
        if self.keys is not None:
            return spoken_key(text) in self.keys
        # the trie holds written forms ("can I", "Turn", digits): walk each written form of the normalized text
        return any(self._walk(form) for form in written_forms(normalize(text)))

    def _walk(self, form: str) -> bool:
        node = 0
        for t in self.asr.tokenizer.encode(form):
            nxt = self.trie.next_tokens(node).get(t)
            if nxt is None:
                return False
            node = nxt
        return bool(self.trie.sentences_at(node))

    def _repeating(self, text: str) -> bool:
        """A sentence of the set that Whisper has started to say again ("3, 8, 7, 3, ..."): the loop of a short
        window, not speech; reading on would only cost decoder runs."""
        first = once(text)
        return len(numerals(normalize(text)).split()) > len(first.split()) and self.says(first)

    def _reading(self, h: Hypothesis) -> str:
        return self.asr.tokenizer.decode(list(h.reading)) if h.reading else self.entries[h.entry][2]

    def _words(self, h: Hypothesis) -> int:
        return len(spoken_key(self._reading(h)).split())

    def _snap_allowance(self, free: str, best: Hypothesis) -> float:
        """How much likelier per token (nats) Whisper's free reading may be than the best sentence of the set
        and still be a misreading of it ("he is to week to move" for "he is too weak to move") rather than
        other speech; 0 when it is not one. Sentences of two words or more only. Close in characters:
        :data:`SNAP_GAP`; looser (in noise: "that could cause some unfortunate" for "that can cost him a
        fortune"): :data:`LOOSE_GAP`, and only for a reading that is not one of Whisper's loops. Calibrated on
        real development speech, clean and at 6 dB (``models/speech/reports/real_sentences.md``)."""
        if self._words(best) < SNAP_MIN_WORDS:
            return 0.0
        d = reading_distance(free, self._reading(best))
        if d <= SNAP_CER:
            return SNAP_GAP
        if d <= LOOSE_CER and len(once(free).split()) == len(numerals(normalize(free)).split()):
            return LOOSE_GAP
        return 0.0

    def decode(self, audio: np.ndarray, beam: int = 6, bias: float = 0.0) -> Decoded:
        kv = self.asr.encode(audio)
        if isinstance(self.trie, LazyTokenTrie):
            self.trie.trim()
        hyps, seen = beam_search(self.asr, kv, self.trie, beam=beam)
        if hyps and hyps[0].logprob / (hyps[0].tokens + 1) < LOW_LOGPROB:
            # Whisper's silence rule, as for single words: no speech when its no-speech probability is high
            # and the best sentence is improbable (noise windows read "[ Pause ]", "(footsteps)" ... there)
            no_speech = float(np.exp(self.asr.step_many(kv, [self.asr.prompt[:1]])[0][self.asr.no_speech_id]))
            if silent(no_speech, hyps[0].logprob / (hyps[0].tokens + 1)):
                post = np.zeros(len(self.set.labels))
                post[-1] = 1.0
                return Decoded(post, None, {}, 1.0, "")
        free_t = self.asr.greedy(kv, seen.get, 30, stop=self._repeating)
        in_set = self.says(once(free_t.text)) or self.says(collapse_repeats(free_t.text))
        if hyps and not in_set and not self._snap_allowance(free_t.text, hyps[0]):
            found = self._rescue(kv, free_t.text)
            if found is not None:
                hyps = [found]
        elif hyps and not in_set:
            for _ in range(3):  # a sentence may go on twice ("... iced coffee with lots of cream and sweetener")
                longer = self._extended(free_t.text, hyps)
                if longer is hyps:
                    break
                hyps = longer
        return self._answer(hyps, free_t, in_set, bias)

    def _extended(self, free: str, hyps: list[Hypothesis]) -> list[Hypothesis]:
        """The hypotheses with the best one replaced by a longer sentence that goes on from it, when Whisper's
        free reading holds those further words (it is closer to the longer sentence). In noise the words after
        a complete sentence are masked, and ending early can score best: "I'd like a latte" for "I'd like a
        latte with a lot of cream", read "I'd like to laughing with a lot of". The longer sentence takes the
        shorter one's probability too: both explain the same start of the utterance."""
        first = hyps[0]
        stem = spoken_key(self._reading(first))
        d0 = reading_distance(free, self._reading(first))
        for i, h in enumerate(hyps[1:], 1):  # the likeliest such sentence
            if h.logprob < first.logprob - EXTEND_NATS:
                break
            if (spoken_key(self._reading(h)).startswith(stem + " ")
                    and reading_distance(free, self._reading(h)) < d0 - EXTEND_GAIN):
                merged = Hypothesis(h.entry, float(np.logaddexp(h.logprob, first.logprob)), h.tokens, h.reading)
                return [merged] + [x for j, x in enumerate(hyps) if j not in (0, i)]
        return hyps

    def _rescue(self, kv: np.ndarray, free: str) -> Hypothesis | None:
        """The sentence Whisper's free reading misreads, when the beam lost it: a wider beam
        (:data:`RESCUE_BEAM`) and the hypothesis closest to the reading, if it is close enough to snap (the
        first one also by the looser rule). In kitchen noise the right prefix often falls out of the narrow beam
        early ("It's exactly four months away" for "it was exactly ..."); Whisper's reading still says which
        sentence it was. Only for a reading of two words or more that is far from the narrow beam's best, so
        it costs one more search only where the answer would otherwise be unknown."""
        if len(once(free).split()) < SNAP_MIN_WORDS:
            return None
        wide, _ = beam_search(self.asr, kv, self.trie, beam=RESCUE_BEAM)
        if not wide:
            return None
        dist = [reading_distance(free, self._reading(h)) for h in wide]
        i = int(np.argmin(dist))
        if self._snap_allowance(free, wide[i]) and (i == 0 or dist[i] <= SNAP_CER):
            return wide[i]
        return None

    def _answer(self, hyps: list[Hypothesis], free_t: Transcript, in_set: bool, bias: float) -> Decoded:
        """The posteriors over the labels from the hypotheses (a meaning's readings add up) and the free reading
        as the unknown alternative, snapped or far (see the module doc)."""
        text, free = free_t.text, free_t.logprob
        labels = self.set.labels
        per = np.full(len(labels), -np.inf)
        for h in hyps:
            i = labels.index(self.entries[h.entry][0])
            per[i] = np.logaddexp(per[i], h.logprob)
        if not in_set or not hyps:
            per[-1] = free + bias
            allowance = self._snap_allowance(text, hyps[0]) if hyps else 0.0
            if allowance:
                # a misreading of the best sentence: it wins unless the free reading is likelier by more than
                # the allowance per token, and its confidence says by how much (sigmoid of the margin)
                per[-1] -= allowance * hyps[0].tokens
            elif hyps and not (free_t.ended and _TAG_ONLY.match(text) and self._words(hyps[0]) >= SNAP_MIN_WORDS):
                # Whisper read something else, not close to any sentence: other speech, a name, a wake word, or
                # Whisper looping on noise ("Athena Athena ..."), whose broken reading can be less likely than a
                # forced sentence; unknown, however the forced sentence scores. (A finished non-speech tag,
                # "[inaudible]", says nothing of the words: a forced sentence of two words or more competes with
                # it as it scores; a single word does not: "Athena" was read "(speaking in foreign language)",
                # and "yes" scored above that.)
                per[-1] = max(per[-1], hyps[0].logprob + FAR_NATS)
        z = float(np.logaddexp.reduce(per))
        post = np.exp(per - z)
        if not hyps or int(np.argmax(post)) == len(labels) - 1:
            return Decoded(post, None, {}, float(post[-1]), text)
        best = hyps[0]
        intent, slots, _ = self.entries[best.entry]
        return Decoded(post, intent, dict(slots), float(np.exp(best.logprob - z)), text,
                       final=self._whole(text, best))

    def _whole(self, text: str, best: Hypothesis) -> bool:
        """Whether the utterance may end after ``best``: Whisper's transcript ``text`` (said once; Whisper tiny
        repeats a short clip's sentence rather than end it, so its end mark is not asked for) is that sentence, or
        a misreading of it (:data:`SNAP_CER`) with as many words, so that its last word was heard ("switch of the
        fan", "turn off the heder"; not "turn on the kitchen" for "turn on the kitchen light"); and no sentence of
        another meaning goes on from it (:func:`goes_on`)."""
        heard, reading = spoken_key(once(text)).split(), spoken_key(self._reading(best)).split()
        close = len(heard) == len(reading) > 0 and reading_distance(text, self._reading(best)) <= SNAP_CER
        if not (heard == reading or close) or _ENDS_IN_DIGIT.search(once(text)):
            return False
        return not goes_on(self.trie, best.reading, best.entry)


@dataclass(frozen=True)
class Decoded:
    posteriors: np.ndarray  # over the set's labels, unknown last
    intent: str | None
    slots: dict[str, str]
    confidence: float  # of the intent with exactly these slots
    transcript: str
    final: bool = False  # the utterance may end here: a whole sentence that cannot go on (early endpointing)


def decodes_sentences(set_path: Path) -> bool:
    """Whether a set is one this decoder serves (rather than a trained bundle): a grammar set (slots,
    templates, a Rhino context) of any size, or a flat set with a phrase of two words or more. Up to
    :data:`SENTENCE_LIMIT` sentences are written out into a token trie; larger sets are decoded on a lazily
    built one (:mod:`.sets.grammar_tokens`). Single-word sets (``speech_commands_10``, ``digits`` and the like)
    are served by a trained head with the recognizer (:mod:`.asr_recognizer`): alone, the recognizer's
    transcript of a lone real word is too often not that word to reject by."""
    text = set_path.read_text(encoding="utf-8")
    if is_grammar_file(text):
        load_grammar_set(set_path)  # errors in the set surface here, naming the line
        return True
    cs = load_command_set(set_path)
    return any(len(p.split()) > 1 for ps in cs.intents.values() for p in ps)


class AsrGrammarRecognizer:
    """A :class:`~agent.speech.recognizer.Recognizer` for grammar sets (intent + slots) on the real-speech
    recognizer: nothing is trained, so any set — ours, hassil-like or a Rhino context — works as soon as it
    loads. ``threshold``: the joint confidence of the intent with its slots that a decision needs."""

    version = 1  # nothing is trained: the set itself is the model

    def __init__(self, grammar: AsrGrammar, path: Path, threshold: float = THRESHOLD, bias: float = 0.0,
                 ) -> None:
        self.grammar = grammar
        self.path = path
        self.threshold = threshold
        self.name = grammar.set.name
        self.bias = bias
        self.canvas = CANVAS_SAMPLES
        self._labels = grammar.set.labels

    @classmethod
    def from_set(cls, set_path: Path, *, asr: WhisperAsr | None = None, threads: int = 1,
                 model: str = "tiny.en") -> AsrGrammarRecognizer:
        gs = load_grammar_set(set_path)
        return cls(AsrGrammar(gs, asr or WhisperAsr.load(threads=threads, model=model)), set_path)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    def recognize(self, pcm: np.ndarray, t_start: float = 0.0, t_end: float = 0.0,
                  snr_db: float = 30.0) -> GrammarScores:
        d = self.grammar.decode(as_audio(pcm), bias=self.bias)
        return GrammarScores(labels=self.labels, scores=tuple(float(p) for p in d.posteriors), t_start=t_start,
                             t_end=t_end, slots=d.slots, snr_db=snr_db, confidence=d.confidence, final=d.final)

    def decide(self, scores: CommandScores) -> tuple[str | None, float]:
        return decide_joint(scores, self.threshold)
