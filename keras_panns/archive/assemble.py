"""The driver's side of the archive job: each file's windows gathered into table rows.

Windows arrive from the model actors in any order and, after a retried task,
possibly twice; `FileAssembler` keeps one of each, feeds framewise scores to
an `EventDetector` in file order (so events across a segment border equal
`detect_events_long`'s), and hands out a file's rows once all its windows
are in, or at once when one of its segments failed.
"""

import numpy as np

from keras_panns.archive import schema
from keras_panns.inference import top_k_labels


class _File:
    def __init__(self, row):
        self.meta = {key: row[key] for key in schema.in_flight()}
        self.windows = {}
        self.framewise = {}
        self.next_window = 0
        self.stitcher = self.detector = None


class FileAssembler:
    """Turns model output rows into the rows of the index tables, file by file.

    Args:
        manifest: the index manifest (window, hop, outputs, top_k, events, labels, model rate and hop size).
        labels: list of class names.

    Example:
    ```python
    assembler = FileAssembler(manifest, model.labels)
    for batch in dataset.iter_batches(batch_format="numpy"):
        for rows in assembler.add(batch):      # one dict of table rows per finished file
            pending.append(rows)
    ```
    """

    def __init__(self, manifest, labels):
        self.labels = labels
        self.outputs = set(manifest["outputs"])
        self.top_k = int(manifest["top_k"])
        self.window_seconds = float(manifest["window_seconds"])
        self.sample_rate = int(manifest["sample_rate"])
        self.hop_size = int(manifest["front_end"]["hop_size"])
        self.event_options = manifest.get("events") or {}
        self.num_classes = int(manifest["num_classes"])
        self.open = {}
        self.closed = set()

    def _key(self, row):
        return row["path"], int(row["size"]), float(row["mtime"])

    def add(self, batch):
        """Adds a batch (dict of column arrays); returns the finished files' rows, one dict per file."""
        finished = []
        for i in range(len(batch["path"])):
            row = {key: batch[key][i] for key in batch}
            key = self._key(row)
            if key in self.closed:
                continue  # a window of a failed file, or one delivered again by a retried task
            if row["error_reason"]:
                self.open.pop(key, None)
                self.closed.add(key)
                finished.append(self._error(row))
                continue
            state = self.open.get(key)
            if state is None:
                state = self.open[key] = _File(row)
            window = int(row["window"])
            if window in state.windows or window < state.next_window and "events" in self.outputs:
                continue
            state.windows[window] = (
                int(row["start"]),
                np.frombuffer(row["scores"], np.float32),
                np.frombuffer(row["embedding"], np.float32) if row["embedding"] else None,
            )
            if "events" in self.outputs:
                state.framewise[window] = np.frombuffer(row["framewise"], np.float32).reshape(-1, self.num_classes)
                self._advance(state)
            if len(state.windows) == state.meta["total"]:
                del self.open[key]
                self.closed.add(key)
                finished.append(self._finish(state))
        return finished

    def _advance(self, state):
        from keras_panns.events import EventDetector
        from keras_panns.long_audio import FrameStitcher

        if state.stitcher is None:
            options = self.event_options
            points = options.get("event_points") or {}
            state.stitcher = FrameStitcher(self.hop_size)
            state.detector = EventDetector(
                self.num_classes,
                frame_rate=self.sample_rate / self.hop_size,
                labels=self.labels,
                high=[points.get(name, (options["high"], 0))[0] for name in self.labels],
                low=[points.get(name, (0, options["low"]))[1] for name in self.labels],
                median_window=options["median_window"],
                min_duration=options["min_duration"],
            )
        total = 1 + int(state.meta["num_samples"]) // self.hop_size
        while state.next_window in state.framewise:
            window = state.next_window
            frames = state.framewise.pop(window)
            state.stitcher.add(state.windows[window][0], frames, total)
            state.next_window += 1
            if state.next_window == state.meta["total"]:
                state.detector.update(state.stitcher.finish(total)[1])
            else:
                # The next window's start is known only once it arrives; frames before it are final.
                following = state.windows.get(state.next_window)
                if following is not None:
                    state.detector.update(state.stitcher.release(following[0] // self.hop_size)[1])

    def _file_row(self, meta, status, windows):
        return {
            "path": str(meta["path"]),
            "size": int(meta["size"]),
            "mtime": float(meta["mtime"]),
            "duration": float(meta["duration"]) if status == "ok" else None,
            "sample_rate": int(meta["sample_rate"]) if status == "ok" else None,
            "channels": int(meta["channels"]) if status == "ok" else None,
            "windows": windows,
            "status": status,
        }

    def _error(self, row):
        return {
            "files": [self._file_row(row, "error", 0)],
            "errors": [
                {"path": str(row["path"]), "reason": str(row["error_reason"]), "error": str(row["error_class"])}
            ],
        }

    def _finish(self, state):
        meta = state.meta
        path = str(meta["path"])
        duration = float(meta["duration"])
        windows = []
        for window in sorted(state.windows):
            start_sample, scores, embedding = state.windows[window]
            start = start_sample / self.sample_rate
            row = {"path": path, "window": window, "start": start, "end": min(start + self.window_seconds, duration)}
            if "tags" in self.outputs:
                top = top_k_labels(scores, self.labels, self.top_k)
                row.update(top_labels=[label for label, _ in top], top_scores=[score for _, score in top])
            if "scores" in self.outputs:
                row["scores"] = scores
            if "embeddings" in self.outputs:
                row["embedding"] = embedding
            windows.append(row)
        rows = {"files": [self._file_row(meta, "ok", len(windows))], "windows": windows}
        if "events" in self.outputs:
            rows["events"] = [
                {
                    "path": path,
                    "label": e.label,
                    "class_index": e.index,
                    "onset": e.onset,
                    "offset": e.offset,
                    "score": e.score,
                }
                for e in state.detector.finish()
            ]
        return rows
