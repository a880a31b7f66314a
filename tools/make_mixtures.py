"""Mixtures of real ESC-10 sounds at known onsets and gains in background noise, with their strong labels.

A test set whose truth is known to the millisecond, for thresholds, calibration
and event metrics on real sound. Each mixture is `--seconds` of pink noise at
`--noise_db` dBFS (RMS) holding 1 to `--max_events` ESC-10 events; an event is
the active part of a clip (its frames within 30 dB of the clip's loudest 50-ms
frame, so the silence ESC-50 pads clips with is not called a sound), placed at a
random onset at a random SNR in `--snr` dB against the noise. Events may overlap.

Writes, under `--out`:
- `audio/mix_NNNN.wav`: 32 kHz mono float32 WAV.
- `labels.csv`: the plain label CSV `keras-panns label --import` reads (path, start, end, label,
  label_type): a positive span per event (its onset and offset in the mixture), and a whole-file negative
  for every ESC-10 class a mixture does not hold. Labels are AudioSet class names (`ESC10_TO_AUDIOSET`).
- `events.tsv`: one row per event with its source clip, fold, gain and SNR (for whoever checks a result).

`--folds` picks the ESC-10 folds the events come from (keep fold 5 for testing, as the official protocol
does). ESC-50 is CC BY-NC 3.0: the mixtures are for evaluation only and stay out of the repository.

Example:
  python tools/make_mixtures.py --out /tmp/mixtures --count 200 --folds 5
  keras-panns index /tmp/mixtures/audio --out /tmp/mixtures.index --outputs tags,scores --window 1 --hop 0.5
  keras-panns label /tmp/mixtures.index --import /tmp/mixtures/labels.csv
"""

import csv
import os
import sys

import numpy as np
from absl import app, flags

#: ESC-10's categories as the AudioSet classes PANNs output.
ESC10_TO_AUDIOSET = {
    "dog": "Dog",
    "rooster": "Chicken, rooster",
    "rain": "Rain",
    "sea_waves": "Waves, surf",
    "crackling_fire": "Crackle",
    "crying_baby": "Baby cry, infant cry",
    "sneezing": "Sneeze",
    "clock_tick": "Tick",
    "helicopter": "Helicopter",
    "chainsaw": "Chainsaw",
}
RATE = 32000

OUT = flags.DEFINE_string("out", None, "Where to write audio/, labels.csv and events.tsv.")
ESC10 = flags.DEFINE_string("esc10", None, "The ESC-10 folder (default ../shared/data/esc10 beside the repo).")
COUNT = flags.DEFINE_integer("count", 100, "Mixtures to write.", lower_bound=1)
SECONDS = flags.DEFINE_float("seconds", 10.0, "Length of each mixture.", lower_bound=1.0)
MAX_EVENTS = flags.DEFINE_integer("max_events", 3, "Events per mixture at most (at least 1).", lower_bound=1)
SNR = flags.DEFINE_list("snr", ["0", "20"], "Range of event SNRs in dB against the noise: LOW,HIGH.")
NOISE_DB = flags.DEFINE_float("noise_db", -40.0, "The background's RMS in dBFS.")
FOLDS = flags.DEFINE_list("folds", ["1", "2", "3", "4", "5"], "ESC-10 folds the events come from.")
SEED = flags.DEFINE_integer("seed", 0, "The random seed: the same seed writes the same mixtures.")


def pink_noise(samples, rng):
    """Pink (1/f power) noise of unit RMS, by shaping white noise's spectrum."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.fft.rfftfreq(samples)
    frequencies[0] = frequencies[1]
    noise = np.fft.irfft(spectrum / np.sqrt(frequencies), n=samples)
    return noise / np.sqrt(np.mean(noise**2))


def active_part(clip, rate, floor_db=30.0, frame_seconds=0.05):
    """`(first, last)` samples of a clip's frames within `floor_db` of its loudest frame (None if silent)."""
    frame = max(1, int(frame_seconds * rate))
    frames = len(clip) // frame
    if frames == 0:
        return None
    rms = np.sqrt(np.mean(clip[: frames * frame].reshape(frames, frame) ** 2, axis=1))
    if rms.max() <= 0:
        return None
    loud = np.flatnonzero(20 * np.log10(np.maximum(rms, 1e-12) / rms.max()) > -floor_db)
    return int(loud[0] * frame), int(min(len(clip), (loud[-1] + 1) * frame))


def clips_of(esc10, folds):
    """`[(path, fold, category), ...]` of the ESC-10 clips in `folds`."""
    with open(os.path.join(esc10, "esc10.csv"), encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["fold"] in folds]
    if not rows:
        raise SystemExit(f"no ESC-10 clips of folds {', '.join(folds)} in {esc10}/esc10.csv")
    return [(os.path.join(esc10, "audio", r["filename"]), r["fold"], r["category"]) for r in rows]


def make_mixture(clips, rng, seconds, max_events, snr, noise_db, load):
    """One mixture: `(waveform float32, [(category, onset s, offset s, path, fold, gain, snr), ...])`."""
    samples = int(round(seconds * RATE))
    noise_rms = 10 ** (noise_db / 20)
    mixture = pink_noise(samples, rng) * noise_rms
    events = []
    for _ in range(int(rng.integers(1, max_events + 1))):
        path, fold, category = clips[int(rng.integers(len(clips)))]
        clip = load(path)
        span = active_part(clip, RATE)
        if span is None:
            continue
        sound = clip[span[0] : span[1]][:samples]
        onset = int(rng.integers(0, samples - len(sound) + 1))
        level = float(rng.uniform(*snr))
        gain = noise_rms * 10 ** (level / 20) / max(float(np.sqrt(np.mean(sound**2))), 1e-12)
        mixture[onset : onset + len(sound)] += gain * sound
        events.append((category, onset / RATE, (onset + len(sound)) / RATE, path, fold, gain, level))
    peak = float(np.abs(mixture).max())
    if peak > 0.99:  # loud overlaps: scale the whole mixture, every SNR stays as it is
        mixture *= 0.99 / peak
    return mixture.astype(np.float32), events


def write_mixtures(
    out,
    esc10,
    count,
    seconds=10.0,
    max_events=3,
    snr=(0.0, 20.0),
    noise_db=-40.0,
    folds=("1", "2", "3", "4", "5"),
    seed=0,
):
    """Writes `count` mixtures, `labels.csv` and `events.tsv` under `out`; returns the labels' path."""
    import soundfile

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from keras_panns.atomic import atomic_write
    from keras_panns.audio import load_audio

    rng = np.random.default_rng(seed)
    clips = clips_of(esc10, set(folds))
    cache = {}

    def load(path):
        if path not in cache:
            cache[path] = load_audio(path, RATE)
        return cache[path]

    os.makedirs(os.path.join(out, "audio"), exist_ok=True)
    labels_path = os.path.join(out, "labels.csv")
    with (
        atomic_write(labels_path, newline="") as labels,
        atomic_write(os.path.join(out, "events.tsv"), newline="") as log,
    ):
        labels_csv = csv.writer(labels, lineterminator="\n")
        labels_csv.writerow(["path", "start", "end", "label", "label_type"])
        events_tsv = csv.writer(log, delimiter="\t", lineterminator="\n")
        events_tsv.writerow(["path", "onset", "offset", "category", "label", "source", "fold", "gain", "snr_db"])
        for number in range(count):
            waveform, events = make_mixture(clips, rng, seconds, max_events, snr, noise_db, load)
            path = os.path.join(out, "audio", f"mix_{number:04d}.wav")
            soundfile.write(path, waveform, RATE, subtype="FLOAT")
            for category, onset, offset, source, fold, gain, level in events:
                label = ESC10_TO_AUDIOSET[category]
                labels_csv.writerow([path, f"{onset:.4f}", f"{offset:.4f}", label, "positive"])
                events_tsv.writerow(
                    [
                        path,
                        f"{onset:.4f}",
                        f"{offset:.4f}",
                        category,
                        label,
                        source,
                        fold,
                        f"{gain:.5g}",
                        f"{level:.2f}",
                    ]
                )
            present = {category for category, *_ in events}
            for category, label in ESC10_TO_AUDIOSET.items():
                if category not in present:
                    labels_csv.writerow([path, "", "", label, "negative"])
    return labels_path


def main(argv):
    del argv
    if not OUT.value:
        raise app.UsageError("--out is required")
    esc10 = ESC10.value or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "esc10"
    )
    low, high = (float(v) for v in SNR.value)
    labels = write_mixtures(
        OUT.value,
        esc10,
        COUNT.value,
        SECONDS.value,
        MAX_EVENTS.value,
        (low, high),
        NOISE_DB.value,
        tuple(FOLDS.value),
        SEED.value,
    )
    print(f"wrote {COUNT.value} mixtures to {os.path.join(OUT.value, 'audio')} and their labels to {labels}")


if __name__ == "__main__":
    app.run(main)
