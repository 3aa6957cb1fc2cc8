"""Progress display: a tqdm bar when tqdm is importable, else one plain line per event (stderr)."""
import sys

try:
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # python3-tqdm not installed
    _tqdm = None


class Progress:
    """Counts finished units (steps of a workflow, rows of a job) towards a total."""

    def __init__(self, total, desc, enabled=True, unit="step"):
        self._enabled = enabled
        self._bar = _tqdm(total=total, desc=desc, unit=unit, file=sys.stderr) if enabled and _tqdm else None
        self._desc = desc
        self._done = 0
        self._total = total

    def status(self, text):
        """What is happening now (the current step and its inner progress)."""
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
        else:
            print(f"{self._desc}: {text}", file=sys.stderr, flush=True)

    def advance(self, n=1, text=""):
        if not self._enabled:
            return
        self._done += n
        if self._bar is not None:
            if text:
                self._bar.set_postfix_str(text, refresh=False)
            self._bar.update(n)
        else:
            print(f"{self._desc}: [{self._done}/{self._total}] {text}", file=sys.stderr, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
