"""Voice folders: what `timbre train` writes and `timbre synth --voice DIR` reads.

Layout (every path in the manifest is relative to the folder and must stay inside it):

    VOICE/
      voice.json          the manifest (below)
      gpt.ckpt            GPT weights, the original's format (or gpt.safetensors + gpt.json, timbre's format)
      sovits.pth          SoVITS weights, the original's format (or sovits.safetensors + sovits.json)
      hubert/             optional: the HuBERT folder (Hugging Face format) the voice was trained with
      sv.ckpt             optional (v2Pro*): the speaker-verification model (ERes2NetV2 state dict) it was trained with
      reference.wav       optional: a default reference clip (any supported audio format)

voice.json:

    {"format": "timbre-voice", "format_version": 1, "name": "alice",
     "version": "v2",                     SoVITS version: v1 | v2 | v2Pro | v2ProPlus
     "gpt_version": "v2",                 GPT version: v1 | v2
     "gpt": "gpt.ckpt", "sovits": "sovits.pth", "hubert": "hubert" or null,
     "sv": "sv.ckpt" (optional key) or null,
     "reference": {"audio": "reference.wav", "text": "...", "lang": "en"} or null,
     "info": {...}}                       free metadata (training settings, epochs, dataset), kept as given

The original-format files load in the original's WebUI unchanged. `save_voice` writes the weights and copies the
optional parts, then writes voice.json last (atomically), so a folder with a voice.json is always complete.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from timbre.audio.io import is_supported
from timbre.compat.checkpoints import GPTCheckpoint, SoVITSCheckpoint, save_gpt_ckpt, save_sovits_pth
from timbre.compat.native import load_checkpoint, save_safetensors
from timbre.errors import TimbreError
from timbre.files import atomic_path

VOICE_FILE = "voice.json"
FORMAT = "timbre-voice"
FORMAT_VERSION = 1
WeightFormat = Literal["original", "safetensors"]


@dataclass(frozen=True)
class VoiceReference:
    audio: Path  # absolute path of the clip inside the voice folder
    text: str
    lang: str


@dataclass(frozen=True)
class Voice:
    folder: Path
    name: str
    version: str  # SoVITS version
    gpt_version: str
    gpt: Path
    sovits: Path
    hubert: Path | None = None
    reference: VoiceReference | None = None
    info: dict[str, Any] = field(default_factory=dict)
    sv: Path | None = None  # the speaker-verification model (v2Pro*), when the voice carries one

    def load_checkpoints(self) -> tuple[GPTCheckpoint, SoVITSCheckpoint]:
        """Both checkpoints, checked against the versions the manifest records."""
        gpt, sovits = load_checkpoint(self.gpt), load_checkpoint(self.sovits)
        if not isinstance(gpt, GPTCheckpoint) or not isinstance(sovits, SoVITSCheckpoint):
            raise TimbreError(
                f"{self.folder}: voice.json names a {gpt.kind} file as 'gpt' and {sovits.kind} as 'sovits'"
            )
        if (gpt.version, sovits.version) != (self.gpt_version, self.version):
            raise TimbreError(
                f"{self.folder}: voice.json says GPT {self.gpt_version} / SoVITS {self.version} but the files are "
                f"GPT {gpt.version} / SoVITS {sovits.version}"
            )
        return gpt, sovits


def _inside(folder: Path, name: object, what: str) -> Path:
    if not isinstance(name, str) or not name:
        raise TimbreError(f"{folder / VOICE_FILE}: '{what}' must be a file name inside the voice folder")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise TimbreError(f"{folder / VOICE_FILE}: '{what}' ({name}) points outside the voice folder")
    if not path.exists():
        raise TimbreError(f"{folder}: {what} file {name} is missing")
    return path


def load_voice(folder: str | Path) -> Voice:
    """Read and check a voice folder's manifest (the weights are read by `Voice.load_checkpoints`)."""
    folder = Path(folder)
    manifest = folder / VOICE_FILE
    if not manifest.is_file():
        raise TimbreError(f"{folder}: not a voice folder (no {VOICE_FILE}); `timbre train` writes one")
    try:
        doc = json.loads(manifest.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TimbreError(f"{manifest}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TimbreError(f"{manifest}: not a timbre voice manifest (format must be {FORMAT!r})")
    if doc.get("format_version") != FORMAT_VERSION:
        raise TimbreError(
            f"{manifest}: format_version {doc.get('format_version')!r} is not supported (expected 1)"
        )
    reference = None
    ref = doc.get("reference")
    if ref is not None:
        if (
            not isinstance(ref, dict)
            or not isinstance(ref.get("text"), str)
            or not isinstance(ref.get("lang"), str)
        ):
            raise TimbreError(f"{manifest}: 'reference' needs 'audio', 'text' and 'lang'")
        reference = VoiceReference(
            _inside(folder, ref.get("audio"), "reference audio"), ref["text"], ref["lang"]
        )
    hubert = None if doc.get("hubert") is None else _inside(folder, doc["hubert"], "hubert")
    sv = None if doc.get("sv") is None else _inside(folder, doc["sv"], "sv")
    info = doc.get("info") or {}
    return Voice(
        folder=folder,
        name=str(doc.get("name") or folder.name),
        version=str(doc.get("version", "")),
        gpt_version=str(doc.get("gpt_version", "")),
        gpt=_inside(folder, doc.get("gpt"), "gpt"),
        sovits=_inside(folder, doc.get("sovits"), "sovits"),
        hubert=hubert,
        reference=reference,
        info=dict(info) if isinstance(info, dict) else {},
        sv=sv,
    )


def save_voice(
    folder: str | Path,
    gpt: GPTCheckpoint,
    sovits: SoVITSCheckpoint,
    *,
    name: str | None = None,
    weights: WeightFormat = "original",
    hubert: str | Path | None = None,
    reference: tuple[str | Path, str, str] | None = None,
    info: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    sv: str | Path | None = None,
) -> Voice:
    """Write a voice folder and return it as `load_voice` reads it.

    weights: "original" (gpt.ckpt + sovits.pth, fp16, loadable by the original WebUI) or "safetensors" (timbre's
    format, tensors stored as given). hubert: a HuBERT folder to copy into hubert/. reference: (audio file, its
    transcript, its language) copied as reference.<ext>. sv: the speaker-verification checkpoint a v2Pro* voice
    needs, copied as sv.ckpt. An existing voice folder is replaced only with overwrite.
    """
    folder = Path(folder)
    if (folder / VOICE_FILE).exists() and not overwrite:
        raise TimbreError(f"{folder} already holds a voice; choose another folder or pass overwrite")
    if weights not in ("original", "safetensors"):
        raise TimbreError(f"unknown weights format {weights!r}: use 'original' or 'safetensors'")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VOICE_FILE).unlink(missing_ok=True)  # an interrupted rewrite leaves no stale manifest behind
    if weights == "original":
        gpt_name, sovits_name = "gpt.ckpt", "sovits.pth"
        save_gpt_ckpt(gpt, folder / gpt_name)
        save_sovits_pth(sovits, folder / sovits_name)
    else:
        gpt_name, sovits_name = "gpt.safetensors", "sovits.safetensors"
        save_safetensors(gpt, folder / gpt_name)
        save_safetensors(sovits, folder / sovits_name)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or folder.name,
        "version": sovits.version,
        "gpt_version": gpt.version,
        "gpt": gpt_name,
        "sovits": sovits_name,
        "hubert": None,
        "sv": None,
        "reference": None,
        "info": dict(info or {}),
    }
    if hubert is not None:
        source = Path(hubert)
        if not (source / "config.json").is_file():
            raise TimbreError(f"{source}: not a HuBERT folder (no config.json)")
        shutil.rmtree(folder / "hubert", ignore_errors=True)
        # contents only (not the source's modes): the voice's files are readable as any new file is
        shutil.copytree(source, folder / "hubert", copy_function=shutil.copyfile)
        doc["hubert"] = "hubert"
    if sv is not None:
        source = Path(sv)
        if not source.is_file():
            raise TimbreError(f"{source}: the speaker-verification checkpoint is not a file")
        shutil.copyfile(source, folder / "sv.ckpt")
        doc["sv"] = "sv.ckpt"
    if reference is not None:
        audio, text, lang = reference
        audio = Path(audio)
        if not audio.is_file() or not is_supported(audio):
            raise TimbreError(f"{audio}: the reference clip must be an existing wav/flac/ogg/mp3 file")
        target = f"reference{audio.suffix.lower()}"
        shutil.copyfile(audio, folder / target)
        doc["reference"] = {"audio": target, "text": text, "lang": lang}
    with atomic_path(folder / VOICE_FILE) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return load_voice(folder)
