"""Grammar command sets: both template syntaxes, counting without enumerating, sampling coverage, synonyms,
Rhino contexts read unchanged, and errors that name the file and line."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from agent.errors import CommandSetError
from agent.speech.sets import grammar as g
from agent.speech.sets.base import SETS_DIR
from agent.speech.sets.commands import load_command_set
from agent.speech.sets.grammar_set import GrammarSet, load_grammar_set
from agent.speech.sets.loader import load_any_set

SLOTS = {"room": g.SlotDef("room", (g.SlotValue(g.parse_template("kitchen", allow_slots=False), "kitchen"),
                                    g.SlotValue(g.parse_template("(lounge | living room)", allow_slots=False),
                                                "living_room")))}


def _sentences(text: str) -> set[str]:
    return {s for s, _ in g.expand(g.parse_template(text), SLOTS)}


def test_hassil_and_rhino_syntax_expand_to_the_same_sentences() -> None:
    hassil = _sentences("[please] (turn | switch) on [the] {room} light")
    rhino = _sentences("[please] (turn, switch) on [the] $room:room light")
    assert hassil == rhino
    assert "please switch on the lounge light" in hassil and "turn on kitchen light" in hassil
    assert len(hassil) == 2 * 2 * 2 * 3
    assert _sentences("[a, b] c") == {"a c", "b c", "c"}
    assert _sentences("Hello, World!") == {"hello world"}


def test_slot_variables_and_synonyms_map_to_canonical_values() -> None:
    node = g.parse_template("from {room} to {room:target}")
    assert g.slot_vars(node) == {"room": "room", "target": "room"}
    out = dict(g.expand(node, SLOTS))
    assert out["from lounge to kitchen"] == {"room": "living_room", "target": "kitchen"}
    assert out["from living room to living room"] == {"room": "living_room", "target": "living_room"}
    assert g.parse_template("$room:where").items == (g.SlotRef("room", "where"),)


def test_count_matches_enumeration_and_scales_without_it() -> None:
    node = g.parse_template("[(a | b | c)] {room} (d | [e f] g)")
    assert g.count(node, SLOTS) == len(g.expand(node, SLOTS)) == 4 * 3 * 3
    big_slots = {"n": g.SlotDef("n", tuple(g.SlotValue(g.Seq((g.Word(f"w{i}"),)), f"w{i}") for i in range(50)))}
    big = g.parse_template(" ".join(f"{{n:v{i}}}" for i in range(8)))
    t0 = time.perf_counter()
    assert g.count(big, big_slots) == 50 ** 8
    assert time.perf_counter() - t0 < 0.5
    with pytest.raises(g.GrammarError, match="limit"):
        g.expand(big, big_slots, limit=1000)


def test_sampling_covers_every_alternative_with_its_slot_values() -> None:
    node = g.parse_template("(a | b | c | d) [x] {room}")
    rng = random.Random(1)
    for uniform in (False, True):
        seen = [g.sample(node, SLOTS, rng, uniform=uniform) for _ in range(400)]
        texts = {s for s, _ in seen}
        assert texts == _sentences("(a | b | c | d) [x] {room}"), uniform
        for text, vals in seen:
            assert vals == {"room": "kitchen" if text.endswith("kitchen") else "living_room"}


def test_sample_is_uniform_over_expansions_when_asked() -> None:
    node = g.parse_template("(a | b {room} {room:r2})")  # 1 + 9 expansions
    rng = random.Random(0)
    n = 5000
    share_a = sum(g.sample(node, SLOTS, rng, uniform=True)[0] == "a" for _ in range(n)) / n
    assert abs(share_a - 0.1) < 0.02
    share_a = sum(g.sample(node, SLOTS, rng)[0] == "a" for _ in range(n)) / n
    assert abs(share_a - 0.5) < 0.03


@pytest.mark.parametrize(("text", "msg"), [
    ("turn (on | off the light", "unbalanced '\\('"),
    ("turn on] the light", "unbalanced ']'"),
    ("turn (on || off)", "empty alternative"),
    ("turn [on, ] light", "empty alternative"),
    ("turn on {room", "unbalanced '\\{'"),
    ("turn (on] light", "closed by"),
    ("spell $pv.Alphanumeric:code", "built-in slot type .* not supported .*pv.TwoDigitInteger"),
    ("a | b", "outside brackets"),
    ("turn on <device>", "expansion rules"),
    ("turn on @devices", "macros"),
    ("", "empty template"),
])
def test_malformed_templates_say_what_is_wrong(text: str, msg: str) -> None:
    with pytest.raises(g.GrammarError, match=msg):
        g.parse_template(text)


def _write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(("body", "line", "msg"), [
    ("name: mine\nintents:\n  on:\n    - 'turn on the {lamp}'\nslots:\n  room: [kitchen]\n", 4, "unknown slot 'lamp'"),
    ("name: mine\nintents:\n  on:\n    - 'turn on'\n    - 'turn (on the'\n", 5, "unbalanced"),
    ("name: mine\nintents:\n  on: ['turn on [the] {room}']\nslots:\n  room:\n    - kitchen\n    - {a: b, c: d}\n",
     7, "value mapping"),
    ("name: mine\nintents:\n  on: ['turn on']\nslots:\n  room: ['(a | b)']\n", 5, "canonical"),
    ("name: mine\nintents:\n  a: ['lamp (on | off)']\n  b: ['lamp on']\n", 4, "both 'a' and 'b'"),
    ("name: mine\nintents:\n  a: ['{room} and {room}']\nslots:\n  room: [x]\n", 3, "appears twice"),
    ("name: mine\nintents:\n  a: ['x {room}']\nslots:\n  room: [x]\nbogus: 1\n", 6, "unknown key 'bogus'"),
])
def test_set_errors_name_file_and_line(tmp_path: Path, body: str, line: int, msg: str) -> None:
    with pytest.raises(CommandSetError, match=rf"mine\.yaml:{line}: .*{msg}"):
        load_grammar_set(_write(tmp_path, body))


def test_rhino_context_errors_name_the_line(tmp_path: Path) -> None:
    body = ("context:\n  expressions:\n    setColor:\n      - \"[make, turn] the lights $colour:color\"\n"
            "  slots:\n    color: [red]\n")
    with pytest.raises(CommandSetError, match=r"ctx\.yaml:4: .*unknown slot 'colour'"):
        load_grammar_set(_write(tmp_path, body, "ctx.yaml"))


def test_rhino_context_loads_unchanged(tmp_path: Path) -> None:
    copy = tmp_path / "Smart Lighting.yml"
    shutil.copyfile(SETS_DIR / "smart_lighting.yaml", copy)
    gs = load_grammar_set(copy)
    assert gs.format == "rhino" and gs.name == "smart_lighting"
    assert gs.labels == ("changeColor", "changeLightState", "changeIntensity", "reset", "unknown")
    assert gs.slots["state"].canonical_values == ("on", "off")  # YAML 'on' stays text
    assert gs.intent_vars("changeColor") == {"color": "color", "location": "location"}
    assert gs.required_vars("changeColor") == ("color",)
    sents = dict(gs.expand("changeLightState"))
    assert sents["turn off the lights in the living room"] == {"state": "off", "location": "living room"}
    assert sents["lights on"] == {"state": "on"}
    assert gs.count() == sum(len(gs.expand(i)) for i in gs.intents)


def test_number_words_and_rhino_builtin_slots() -> None:
    assert [g.number_words(n) for n in (0, 13, 20, 47, 100)] == ["zero", "thirteen", "twenty", "forty seven",
                                                                 "one hundred"]
    assert [g.ordinal_words(n) for n in (1, 2, 3, 5, 12, 20, 21, 99)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty first", "ninety ninth"]
    two = g.builtin_slot("pv.TwoDigitInteger")
    assert len(two.values) == 100 and two.canonical_values[:3] == ("0", "1", "2")
    sents = dict(g.expand(g.parse_template("set $pv.TwoDigitInteger:minutes minutes"),
                          {"pv.TwoDigitInteger": two}))
    assert sents["set twenty five minutes"] == {"minutes": "25"} and len(sents) == 100
    pct = dict(g.expand(g.parse_template("$pv.Percent:level"), {"pv.Percent": g.builtin_slot("pv.Percent")}))
    assert pct["fifty percent"] == {"level": "50%"} and pct["one hundred percent"] == {"level": "100%"}


def test_rhino_brackets_read_the_way_the_context_means_them(tmp_path: Path) -> None:
    # Picovoice's own layout: (x) optional, [a, b] a choice; told by its one-option "(the)" groups
    pico = ("context:\n  expressions:\n    setTimer:\n"
            "      - \"set (a) [timer, countdown] for $pv.TwoDigitInteger:minutes [minute, minutes]\"\n"
            "    stop:\n      - \"[stop, cancel] (the) (timer)\"\n    track:\n"
            "      - \"play (the) $pv.SingleDigitOrdinal:n song\"\n")
    gs = load_grammar_set(_write(tmp_path, pico, "timer.yaml"))
    assert "picovoice" in gs.description
    stop = {s for s, _ in gs.expand("stop")}
    assert {"stop", "cancel the timer", "stop timer"} <= stop and "the" not in stop and "" not in stop
    timer = dict(gs.expand("setTimer"))
    assert timer["set a timer for five minutes"] == {"minutes": "5"} and "set for five" not in timer
    assert dict(gs.expand("track"))["play the third song"] == {"n": "3"}
    assert set(gs.slots) == {"pv.TwoDigitInteger", "pv.SingleDigitOrdinal"}
    # the layout ([please] optional) reads as before
    assert load_grammar_set(SETS_DIR / "smart_lighting.yaml").description == "Rhino context smart_lighting.yaml"
    # no one-option group: both readings, but never a reading that can say nothing
    both = ("context:\n  expressions:\n    go:\n      - \"[turn, switch] (on, off) the lamp\"\n"
            "    halt:\n      - \"[stop, halt]\"\n")
    gs = load_grammar_set(_write(tmp_path, both, "both.yaml"))
    go = {s for s, _ in gs.expand("go")}
    assert {"on the lamp", "turn on the lamp", "turn the lamp"} <= go  # one reading each, and both
    assert {s for s, _ in gs.expand("halt")} == {"stop", "halt"}
    assert gs.count("go") >= len(go)


def test_rhino_macros_expand_in_place(tmp_path: Path) -> None:
    body = ("context:\n  expressions:\n    order:\n      - \"@polite (a) $size:size $drink:drink (please)\"\n"
            "  macros:\n    polite:\n      - \"can I get\"\n      - \"[give, bring] me\"\n"
            "  slots:\n    size: [small, large]\n    drink: [tea, \"hot chocolate\"]\n")
    gs = load_grammar_set(_write(tmp_path, body, "coffee.yaml"))
    sents = dict(gs.expand("order"))
    assert sents["bring me a large hot chocolate please"] == {"size": "large", "drink": "hot chocolate"}
    assert "can i get small tea" in sents and "large tea" not in sents and len(sents) == 3 * 2 * 2 * 2 * 2
    bad = body.replace("@polite (a)", "@rude (a)")
    with pytest.raises(CommandSetError, match=r"coffee\.yaml:4: .*unknown macro '@rude' \(defined: @polite\)"):
        load_grammar_set(_write(tmp_path, bad, "coffee.yaml"))


def test_our_format_with_slots_and_synonyms() -> None:
    gs = load_any_set("devices")
    assert isinstance(gs, GrammarSet) and gs.format == "ours"
    on = dict(gs.expand("turn_on"))
    assert on["would you please turn on the living room lamp"] == {"room": "living_room", "device": "lamp"}
    assert on["switch the sitting room television on please"] == {"room": "living_room", "device": "tv"}
    assert dict(gs.expand("set_temperature"))["make it twenty one degrees"] == {"temperature": "21"}
    assert gs.slot_labels("room") == ("kitchen", "bedroom", "bathroom", "garage", "office", "living_room",
                                      "absent")
    assert gs.negatives[0] == "what time is the game"


def test_flat_sets_load_exactly_as_before_and_grammar_sets_are_pointed_elsewhere() -> None:
    for name in ("home", "digits", "speech_commands_10"):
        flat = load_command_set(name)
        assert load_any_set(name) == flat
        gs = load_grammar_set(name)
        assert gs.labels == flat.labels
        assert {i: {s for s, _ in gs.expand(i)} for i in gs.intents} == {i: set(p) for i, p in flat.intents.items()}
    with pytest.raises(CommandSetError, match="grammar command set"):
        load_command_set("smart_lighting")


def test_slot_patterns_list_the_variable_combinations_sentences_can_fill(tmp_path: Path) -> None:
    node = g.parse_template("turn on (the {device} | the {room} lights) [please]")
    assert g.slot_patterns(node) == {frozenset({"device"}), frozenset({"room"})}
    node = g.parse_template("[in the {room}] set {temperature} degrees")
    assert g.slot_patterns(node) == {frozenset({"temperature"}), frozenset({"room", "temperature"})}
    assert g.slot_patterns(g.parse_template("what time is it")) == {frozenset()}
    p = tmp_path / "s.yaml"
    p.write_text('name: s\nintents:\n  on: ["turn on the {device}", "turn on the {room} lights", "lights on"]\n'
                 "slots:\n  device: [lamp, fan]\n  room: [kitchen, hall]\n")
    gs = load_grammar_set(p)
    assert gs.slot_patterns("on") == ((), ("device",), ("room",))
    assert gs.required_vars("on") == ()
