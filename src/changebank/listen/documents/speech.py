"""Audio decoding (PyAV) and pluggable, offline speech-to-text backends."""

from __future__ import annotations

import io
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .model import DocumentError, ExtractedDocument, PassageBuilder

SAMPLE_RATE = 16_000
MAX_AUDIO_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Segment:
    """One recognised utterance."""

    text: str
    start_seconds: float
    end_seconds: float


@runtime_checkable
class SpeechBackend(Protocol):
    """Turns 16 kHz mono audio into timed text segments."""

    name: str

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> list[Segment]:
        """Recognise speech in ``samples`` (mono int16 or float in [-1, 1])."""
        ...


def _pcm16(samples: np.ndarray, sample_rate: int, backend: str) -> np.ndarray:
    """Check the rate and return mono int16 samples."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"{backend} expects {SAMPLE_RATE} Hz audio, not {sample_rate} Hz")
    samples = np.asarray(samples).reshape(-1)
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples.astype(np.float32), -1.0, 1.0) * 32767).astype(np.int16)


def _not_installed(package: str, extra: str, name: str | None = None) -> DocumentError:
    return DocumentError(name, f"{package} is not installed: install changebank[{extra}]")


class PocketSphinxBackend:
    """Offline recognition with the US English model inside the pocketsphinx wheel.

    Audio is split into utterances by pocketsphinx's voice-activity ``Segmenter`` and each
    utterance is decoded on its own. Not thread-safe: use one backend per thread.
    """

    name = "pocketsphinx"

    def __init__(self, **config: object) -> None:
        """``config`` is passed to ``pocketsphinx.Decoder`` (e.g. ``lm=``, ``dict=``)."""
        try:
            import pocketsphinx
        except ImportError as exc:
            raise _not_installed("pocketsphinx", "audio") from exc
        self._segmenter_class = pocketsphinx.Segmenter
        self.model_path = pocketsphinx.get_model_path()
        self._decoder = pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **config)

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> list[Segment]:
        """Return one segment per utterance that produced words."""
        pcm = _pcm16(samples, sample_rate, self.name)
        # Trailing silence lets the voice-activity detector close the last utterance.
        pcm = np.concatenate([pcm, np.zeros(SAMPLE_RATE // 2, dtype=np.int16)])
        segments = []
        for speech in self._segmenter_class(sample_rate=SAMPLE_RATE).segment(
            io.BytesIO(pcm.tobytes())
        ):
            self._decoder.start_utt()
            self._decoder.process_raw(speech.pcm, full_utt=True)
            self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
            text = hypothesis.hypstr.strip() if hypothesis else ""
            if text:
                segments.append(
                    Segment(text, round(speech.start_time, 3), round(speech.end_time, 3))
                )
        return segments


class WhisperBackend:
    """Recognition with a local Whisper model folder (CTranslate2 format) via faster-whisper.

    Never downloads anything: ``model_dir`` must already hold ``model.bin`` and ``config.json``.
    """

    name = "whisper"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        language: str | None = "en",
        beam_size: int = 5,
    ) -> None:
        """Load the model, raising DocumentError when the folder or package is missing."""
        folder = Path(model_dir)
        if not all((folder / part).is_file() for part in ("model.bin", "config.json")):
            raise DocumentError(
                None, f"no Whisper model in {folder} (expected model.bin and config.json)"
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise _not_installed("faster-whisper", "whisper") from exc
        try:
            self._model = WhisperModel(
                str(folder), device=device, compute_type=compute_type, local_files_only=True
            )
        except Exception as exc:  # noqa: BLE001 - CTranslate2 raises RuntimeError and others
            raise DocumentError(
                None, f"could not load the Whisper model in {folder}: {exc}"
            ) from exc
        self.language = language
        self.beam_size = beam_size

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> list[Segment]:
        """Return Whisper's segments with their times."""
        audio = _pcm16(samples, sample_rate, self.name).astype(np.float32) / 32768.0
        found, _info = self._model.transcribe(
            audio, language=self.language, beam_size=self.beam_size
        )
        return [
            Segment(part.text.strip(), float(part.start), float(part.end))
            for part in found
            if part.text.strip()
        ]


_BACKENDS = {"pocketsphinx": PocketSphinxBackend, "whisper": WhisperBackend}


def get_backend(name: str = "pocketsphinx", **options: object) -> SpeechBackend:
    """Build a speech backend by name, e.g. ``get_backend("whisper", model_dir=...)``."""
    try:
        backend_class = _BACKENDS[name]
    except KeyError:
        choices = ", ".join(sorted(_BACKENDS))
        raise DocumentError(None, f"unknown speech backend {name!r} (choose {choices})") from None
    return backend_class(**options)


def decode_audio(path: Path, name: str, *, max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray:
    """Decode any audio file FFmpeg understands into 16 kHz mono int16 samples."""
    try:
        import av
    except ImportError as exc:
        raise _not_installed("PyAV (audio support)", "audio", name) from exc
    chunks: list[np.ndarray] = []
    total = 0
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise DocumentError(name, "the file has no audio track")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        for frame in chain(container.decode(container.streams.audio[0]), [None]):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += len(chunks[-1])
            if total > max_seconds * SAMPLE_RATE:
                hours = max_seconds / 3600
                raise DocumentError(name, f"refused: the recording is longer than {hours:g} hours")
    if not chunks:
        raise DocumentError(name, "the recording contains no audio")
    return np.concatenate(chunks).astype(np.int16, copy=False)


def read_audio(path: Path, name: str, backend: SpeechBackend | None = None) -> ExtractedDocument:
    """Transcribe a recording; each recognised utterance becomes a timed passage."""
    samples = decode_audio(path, name)
    backend = backend or PocketSphinxBackend()
    builder = PassageBuilder()
    try:
        segments = backend.transcribe(samples, SAMPLE_RATE)
    except Exception as exc:  # noqa: BLE001 - backends wrap native libraries
        raise DocumentError(name, f"speech recognition failed ({exc})") from exc
    for segment in segments:
        builder.add_timed(segment.text, segment.start_seconds, segment.end_seconds)
    return builder.build(
        "audio",
        duration_seconds=round(len(samples) / SAMPLE_RATE, 3),
        speech_backend=backend.name,
    )
